"""Games played through the game's record path, exported, and read back with an independent
reader of Google's formats (tests/export/reader.py), on MariaDB and SQLite."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from legacy_bridge.results import privacy, repo
from server.export import CREDIT, ExportFilters, run_export
from tests.privacy.helpers import T0_MS, make_game

from . import reader

CONSENT_AT = datetime.fromtimestamp(T0_MS / 1000, UTC).replace(tzinfo=None) - timedelta(days=1)


def expected_raw(strokes) -> list[list[list[float]]]:
    strokes = [s for s in strokes if s]
    t0 = min(p[2] for s in strokes for p in s)
    return [[[p[0] for p in s], [p[1] for p in s], [round(p[2] - t0) for p in s]]
            for s in strokes]


async def seed(engine):
    """Five children: two consented, one never, one withdrawn, one consented after playing."""
    games = {
        "kid-aaaa": [make_game(1, player="kid-aaaa", labels=("cat", "dog", "house plant")),
                  make_game(2, player="kid-aaaa", labels=("cat",), started_at_ms=T0_MS + 86_400_000)],
        "kid-bbbb": [make_game(3, player="kid-bbbb", labels=("dog", "cat"), age_band="7-8")],
        "kid-none": [make_game(4, player="kid-none", labels=("cat", "dog"))],
        "kid-gone": [make_game(5, player="kid-gone", labels=("cat",))],
        "kid-late": [make_game(6, player="kid-late", labels=("dog",))],
    }
    for kid in ("kid-aaaa", "kid-bbbb", "kid-gone"):
        await privacy.record_consent(engine=engine, player_id=kid, policy_version="2026-11",
                                     granted_by_role="guardian", granted_by_name="Parent",
                                     now=CONSENT_AT)
    await privacy.record_consent(engine=engine, player_id="kid-late", policy_version="2026-11",
                                 granted_by_role="teacher",
                                 now=CONSENT_AT + timedelta(days=30))
    for gs in games.values():
        for g in gs:
            assert await repo.write_game(engine=engine, game=g)
    await privacy.withdraw_consent(engine=engine, player_id="kid-gone",
                                   withdrawn_by_role="guardian")
    return games


def canon(drawing) -> str:
    """A drawing as comparable text (684 and 684.0 are the same coordinate)."""
    return json.dumps([[[float(v) for v in axis] for axis in stroke] for stroke in drawing])


def read_export(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {f["path"] for f in manifest["files"]} == files - {"manifest.json"}
    for f in manifest["files"]:
        data = (out / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
    raw, simplified, bitmaps, binary = {}, {}, {}, {}
    for p in sorted((out / "raw").glob("*.ndjson")):
        raw[p.stem] = reader.read_ndjson(p)
        simplified[p.stem] = reader.read_ndjson(out / "simplified" / p.name)
        bitmaps[p.stem] = reader.read_npy(out / "numpy_bitmap" / f"{p.stem}.npy")
        binary[p.stem] = reader.read_bin(out / "binary" / f"{p.stem}.bin")
    assert {p.stem for p in (out / "binary").glob("*.bin")} == set(raw)
    extra = {e["key_id"]: e for e in reader.read_ndjson(out / "doodlequest" / "extra.ndjson")}
    return {"manifest": manifest, "raw": raw, "simplified": simplified, "bitmaps": bitmaps,
            "binary": binary, "extra": extra}


async def test_export_reads_back_in_googles_formats(results_engine, tmp_path):
    games = await seed(results_engine)
    out = tmp_path / "export"
    result = await run_export(engine=results_engine, out_dir=out, countrycode="KR")
    ex = read_export(out)

    consented = [g for kid in ("kid-aaaa", "kid-bbbb") for g in games[kid]]
    expected = {}  # word -> sorted list of raw drawings
    stage_of = {}
    for g in consented:
        for s in g.stages:
            raw = expected_raw(s.strokes)
            expected.setdefault(s.label, []).append(raw)
            stage_of[canon(raw)] = (g, s)
    assert result.drawings == sum(len(v) for v in expected.values()) == 6
    assert {w: len(v) for w, v in expected.items()} == ex["manifest"]["counts"]["by_word"]

    key_ids = set()
    for word, records in ex["raw"].items():
        simp = ex["simplified"][word]
        shape, data = ex["bitmaps"][word]
        assert shape == (len(records), 784)
        assert [r["key_id"] for r in simp] == [r["key_id"] for r in records]
        binary = ex["binary"][word]
        assert [b["key_id"] for b in binary] == [r["key_id"] for r in records]
        got = []
        for i, (r, sr, b) in enumerate(zip(records, simp, binary)):
            # .bin: the simplified drawing, point for point, and the same fields
            assert b["drawing"] == sr["drawing"] and b["countrycode"] == "KR"
            assert b["recognized"] == r["recognized"]
            stamp = datetime.strptime(r["timestamp"][:19], "%Y-%m-%d %H:%M:%S")
            assert b["timestamp"] == int(stamp.replace(tzinfo=UTC).timestamp())
            reader.check_record(r, simplified=False)
            reader.check_record(sr, simplified=True)
            assert r["word"] == sr["word"] == word and r["countrycode"] == "KR"
            key_ids.add(r["key_id"])
            # raw coordinates equal what the child drew (to 0.01 px), t from the first point
            g, s = stage_of[canon(r["drawing"])]
            assert r["recognized"] == (s.outcome == "recognized") == sr["recognized"]
            started = datetime.fromtimestamp(s.started_at_ms / 1000, UTC)
            assert r["timestamp"].startswith(started.strftime("%Y-%m-%d %H:%M:%S"))
            # simplified matches Google's recipe, implemented independently, within 2 px
            mine = reader.simplify(r["drawing"])
            for stroke, ref in zip(sr["drawing"], mine):
                assert reader.polyline_distance(list(zip(stroke[0], stroke[1])), ref) <= 2.5
            row = data[i * 784:(i + 1) * 784]
            assert max(row) >= 200 and sum(1 for v in row if v) > 10  # ink on black
            got.append(r["drawing"])
            e = ex["extra"][r["key_id"]]
            assert e["age_band"] == g.age_band and e["time_limit_s"] == s.time_limit_s
            assert e["time_to_recognition_ms"] == s.time_to_recognize_ms
            assert e["guesses"] == [{"t_ms": gs.t_ms, "guesses": [list(x) for x in gs.guesses]}
                                    for gs in s.guesses]
            assert e["consent_policy_version"] == "2026-11"
        assert sorted(map(canon, got)) == sorted(map(canon, expected[word]))
    assert len(key_ids) == 6 and set(ex["extra"]) == key_ids

    # one pseudonym per child within the export, never the internal id
    pseud = {}
    for e in ex["extra"].values():
        g, _ = stage_of[canon(next(r["drawing"] for rs in ex["raw"].values() for r in rs
                                        if r["key_id"] == e["key_id"]))]
        pseud.setdefault(g.player_id, set()).add(e["player"])
    assert all(len(v) == 1 for v in pseud.values()) and len(pseud) == 2
    blob = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for kid, gs in games.items():
        assert kid.encode() not in blob
        for g in gs:
            assert g.game_id.encode() not in blob
    assert "해바라기반".encode() not in blob  # class codes stay in the school's results
    m = ex["manifest"]
    assert m["credit"] == CREDIT == "Quick, Draw! dataset, Google, CC BY 4.0"
    assert "children" in m["note"] and "consent" in m["note"]
    assert m["consent_policy_versions"] == ["2026-11"] and m["exported_at"]


@pytest.mark.parametrize("filters, expect", [
    (ExportFilters(labels=("cat",)), {"cat": 3}),
    (ExportFilters(age_bands=("7-8",)), {"dog": 1, "cat": 1}),
    (ExportFilters(recognized=True), None),
    (ExportFilters(categories=("food",)), {}),
    (ExportFilters(since=datetime.fromtimestamp(T0_MS / 1000 + 3600, UTC)), {"cat": 1}),
    (ExportFilters(until=datetime.fromtimestamp(T0_MS / 1000 + 60, UTC)), {"cat": 2, "dog": 2}),
])
async def test_filters(results_engine, tmp_path, filters, expect):
    games = await seed(results_engine)
    result = await run_export(engine=results_engine, out_dir=tmp_path / "x", filters=filters)
    ex = read_export(tmp_path / "x")
    if expect is None:  # recognized only
        want = sum(1 for k in ("kid-aaaa", "kid-bbbb") for g in games[k] for s in g.stages
                   if s.outcome == "recognized")
        assert result.drawings == want > 0
        assert all(r["recognized"] for rs in ex["raw"].values() for r in rs)
    else:
        assert result.by_label == expect
    assert ex["manifest"]["filters"] == filters.as_dict()


async def test_a_consent_withdrawn_after_one_export_is_absent_from_the_next(results_engine,
                                                                          tmp_path):
    await seed(results_engine)
    first = await run_export(engine=results_engine, out_dir=tmp_path / "1")
    await privacy.withdraw_consent(engine=results_engine, player_id="kid-bbbb",
                                   withdrawn_by_role="teacher")
    second = await run_export(engine=results_engine, out_dir=tmp_path / "2")
    assert (first.drawings, second.drawings) == (6, 4)


async def test_an_export_refuses_a_non_empty_directory(results_engine, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        await run_export(engine=results_engine, out_dir=tmp_path / "x")


async def test_real_quickdraw_drawings_round_trip_to_googles_own_files(results_engine, tmp_path):
    """Real Quick, Draw! drawings played as games come out as Google published them: the raw
    drawing equal, and the simplified drawing within 4 px of Google's simplified file."""
    from tests.privacy.helpers import FIXTURES, points_of, quickdraw_records

    simplified_dir = FIXTURES.parent / "simplified"
    google_simplified = {}
    for path in sorted(simplified_dir.glob("*.ndjson")) if simplified_dir.is_dir() else []:
        for rec in reader.read_ndjson(path):
            google_simplified[rec["key_id"]] = rec
    records = [r for rs in quickdraw_records().values() for r in rs
               if r["key_id"] in google_simplified][:12]
    if not records:
        pytest.skip("tests/fixtures/quickdraw has no raw drawings with simplified twins")
    await privacy.record_consent(engine=results_engine, player_id="kid-qqqq",
                                 policy_version="2026-11", granted_by_role="guardian",
                                 now=CONSENT_AT)
    by_canon = {}
    for i, rec in enumerate(records):
        game = make_game(100 + i, player="kid-qqqq", labels=(rec["word"],))
        stage = game.stages[0]
        # Stage time starts when the topic is shown: the first point comes 700 ms later.
        strokes = tuple(tuple((x, y, t + 700.0) for x, y, t in s) for s in points_of(
            rec["drawing"]))
        game = dataclasses.replace(game, stages=(dataclasses.replace(stage, strokes=strokes),))
        await repo.write_game(engine=results_engine, game=game)
        by_canon[canon(rec["drawing"])] = rec
    await run_export(engine=results_engine, out_dir=tmp_path / "q")
    ex = read_export(tmp_path / "q")
    seen = 0
    for word, rows in ex["raw"].items():
        for r, sr in zip(rows, ex["simplified"][word]):
            rec = by_canon[canon(r["drawing"])]  # raw equal to Google's raw drawing
            ref = google_simplified[rec["key_id"]]["drawing"]
            assert len(sr["drawing"]) == len(ref)
            # Within 4 px of a 256 box: the fixtures' raw points are rounded to 0.1 px and
            # Google's resampling is described, not published as code; a wrong scale, offset
            # or epsilon would be tens of pixels off.
            for mine, theirs in zip(sr["drawing"], ref):
                assert reader.polyline_distance(list(zip(mine[0], mine[1])),
                                                list(zip(theirs[0], theirs[1]))) <= 4.0
            seen += 1
    assert seen == len(records)


def test_batched_simplification_equals_the_rasterisers_simplify_drawing():
    from inference.raster import simplify_drawing
    from server.export.formats import simplify_batch
    from tests.privacy.helpers import points_of, quickdraw_records, synthetic_strokes

    drawings = [points_of(r["drawing"]) for rs in quickdraw_records().values() for r in rs][:80]
    drawings += [synthetic_strokes(i) for i in range(20)] + [[], [[[5.0, 5.0, 0.0]]]]
    assert simplify_batch(drawings) == [simplify_drawing(d, fmt="points") if d else []
                                        for d in drawings]


async def test_a_renewed_consent_keeps_earlier_drawings_in_the_export(results_engine, tmp_path):
    kid = "kid-renewed"
    await privacy.record_consent(engine=results_engine, player_id=kid, policy_version="2026-09",
                                 granted_by_role="guardian", now=CONSENT_AT)
    early = make_game(60, player=kid, labels=("cat",))
    await repo.write_game(engine=results_engine, game=early)
    await privacy.record_consent(engine=results_engine, player_id=kid, policy_version="2026-11",
                                 granted_by_role="guardian", now=CONSENT_AT + timedelta(days=10))
    late = make_game(61, player=kid, labels=("dog",), started_at_ms=T0_MS + 20 * 86_400_000)
    await repo.write_game(engine=results_engine, game=late)
    result = await run_export(engine=results_engine, out_dir=tmp_path / "r")
    assert result.by_label == {"cat": 1, "dog": 1}
    ex = read_export(tmp_path / "r")
    # both under the consent in force now
    assert {e["consent_policy_version"] for e in ex["extra"].values()} == {"2026-11"}
    (consent,) = [c for c in await privacy.consents_of_player(engine=results_engine,
                                                              player_id=kid) if c.active]
    assert consent.as_dict()["covers_games_from"].startswith(CONSENT_AT.isoformat()[:19])
