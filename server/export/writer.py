"""`run_export`: consented drawings into a directory of Google-format files and a manifest.

Layout of an export directory::

    raw/<word>.ndjson            Google's raw format
    simplified/<word>.ndjson     Google's simplified format
    binary/<word>.bin            Google's binary format (the simplified drawings)
    numpy_bitmap/<word>.npy      (N, 784) uint8, rows in the same order as raw/<word>.ndjson
    doodlequest/extra.ndjson     our extra fields, one line per drawing, keyed by key_id
    README.txt                   credit and what the files are
    manifest.json                counts, sha256 of every file, filters, consent versions, credit

A researcher never sees internal ids: `key_id` is random per drawing and per export, and the
player is an HMAC of the internal id with a random secret made for this export and never stored
(so drawings of one child can be grouped within one export, but not linked across exports or
back to the child).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from sqlalchemy.ext.asyncio import AsyncEngine

from .filters import ExportFilters
from .formats import (
    NpyRowWriter,
    bin_record,
    bitmap_row,
    check_countrycode,
    file_stem,
    google_timestamp,
    raw_drawing,
    simplify_batch,
)
from .query import DrawingRow, count_by_label, iter_batches

CREDIT = "Quick, Draw! dataset, Google, CC BY 4.0"
NOTE = ("These are children's drawings collected by Doodle Quest with guardian consent, in the "
        "formats of Google's Quick, Draw! dataset (https://github.com/googlecreativelab/"
        "quickdraw-dataset). Players are pseudonymous per export; no names or birth dates.")
FORMAT = "doodlequest-export/1"


@dataclass(slots=True)
class ExportResult:
    out_dir: Path
    drawings: int
    by_label: dict[str, int]
    manifest: dict[str, Any] = field(default_factory=dict)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _LabelFiles:
    """The three open files of the word being written."""

    def __init__(self, out: Path, word: str, stems: dict[str, str]) -> None:
        stem = file_stem(word)
        n = 2
        while stem in stems.values() and stems.get(word) != stem:
            stem = f"{file_stem(word)}_{n}"  # two words with the same safe name
            n += 1
        stems[word] = stem
        self.word = word
        self.raw: TextIO = (out / "raw" / f"{stem}.ndjson").open("w", encoding="utf-8")
        self.simplified: TextIO = (out / "simplified" / f"{stem}.ndjson").open("w",
                                                                               encoding="utf-8")
        self.binary: BinaryIO = (out / "binary" / f"{stem}.bin").open("wb")
        self.npy = NpyRowWriter((out / "numpy_bitmap" / f"{stem}.npy").open("wb"))

    def close(self) -> int:
        self.raw.close()
        self.simplified.close()
        self.binary.close()
        self.npy.close()
        return self.npy.rows


def _key_id() -> str:
    return str(secrets.randbits(64))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


async def run_export(*, engine: AsyncEngine, out_dir: str | Path,
                     filters: ExportFilters | None = None, countrycode: str = "KR",
                     batch_size: int = 500, now: datetime | None = None,
                     on_total: Callable[[int], None] | None = None,
                     on_progress: Callable[[int], None] | None = None) -> ExportResult:
    """Export every consented drawing matching `filters` into `out_dir` (created; must be empty).

    `on_total(n)` is called once with the expected count, `on_progress(k)` after each batch with
    the drawings written in it (a tqdm bar's `total` / `update`). CPU work (simplifying,
    rasterising, JSON) runs in a worker thread per batch so a server's event loop stays free.
    """
    filters = filters or ExportFilters()
    check_countrycode(countrycode)  # before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"export directory {out} is not empty")
    for sub in ("raw", "simplified", "binary", "numpy_bitmap", "doodlequest"):
        (out / sub).mkdir()
    exported_at = (now or datetime.now(UTC)).astimezone(UTC)
    expected = await count_by_label(engine=engine, filters=filters)
    if on_total:
        on_total(sum(expected.values()))
    secret = secrets.token_bytes(32)  # never stored: pseudonyms cannot be reversed or linked
    by_label: dict[str, int] = {}
    policies: set[str] = set()
    stems: dict[str, str] = {}
    current: list[_LabelFiles | None] = [None]
    extra = (out / "doodlequest" / "extra.ndjson").open("w", encoding="utf-8")

    def pseudonym(player_id: str) -> str:
        return hmac.new(secret, player_id.encode(), hashlib.sha256).hexdigest()[:16]

    def write_batch(batch: list[DrawingRow]) -> None:
        simplified = simplify_batch([d.strokes for d in batch])
        for d, simple in zip(batch, simplified):
            files = current[0]
            if files is None or files.word != d.label:
                if files is not None:
                    by_label[files.word] = by_label.get(files.word, 0) + files.close()
                files = current[0] = _LabelFiles(out, d.label, stems)
            key_id = _key_id()
            ts = google_timestamp(d.started_at)
            files.binary.write(bin_record(
                key_id=int(key_id), countrycode=countrycode, recognized=d.recognized,
                timestamp_s=int(d.started_at.replace(tzinfo=UTC).timestamp()),
                simplified=simple))
            files.raw.write(_dumps({
                "word": d.label, "countrycode": countrycode, "timestamp": ts,
                "recognized": d.recognized, "key_id": key_id,
                "drawing": raw_drawing(d.strokes)}) + "\n")
            files.simplified.write(_dumps({
                "word": d.label, "countrycode": countrycode, "timestamp": ts,
                "recognized": d.recognized, "key_id": key_id,
                "drawing": simple}) + "\n")
            files.npy.write(bitmap_row(simple))
            extra.write(_dumps({
                "key_id": key_id, "word": d.label, "player": pseudonym(d.player_id),
                "age_band": d.age_band, "category": d.category,
                "time_limit_s": d.time_limit_s, "recognized": d.recognized,
                "outcome": d.outcome, "time_to_recognition_ms": d.time_to_recognize_ms,
                "stage_index": d.stage_index, "guesses": d.guesses,
                "final_guesses": d.final_guesses,
                "canvas": {"width": d.canvas_width, "height": d.canvas_height},
                "consent_policy_version": d.policy_version}) + "\n")
            policies.add(d.policy_version)

    try:
        async for batch in iter_batches(engine=engine, filters=filters, batch_size=batch_size):
            await asyncio.to_thread(write_batch, batch)
            if on_progress:
                on_progress(len(batch))
            del batch  # not alive while the next one is read
    finally:
        if current[0] is not None:
            files = current[0]
            by_label[files.word] = by_label.get(files.word, 0) + files.close()
        extra.close()
    total = sum(by_label.values())
    (out / "README.txt").write_text(
        f"Doodle Quest research export ({FORMAT}), exported {exported_at.isoformat()}\n\n"
        f"Credit: {CREDIT}.\n{NOTE}\n\n"
        "raw/ and simplified/: Google's ndjson formats (fields word, countrycode, timestamp,\n"
        "recognized, key_id, drawing). binary/: Google's binary format of the simplified\n"
        "drawings, per drawing key_id uint64, countrycode 2 bytes, recognized uint8, timestamp\n"
        "uint32, n_strokes uint16, then per stroke n_points uint16, x uint8[], y uint8[]\n"
        "(little-endian), in the order of raw/<word>.ndjson. numpy_bitmap/: (N, 784) uint8\n"
        "28x28 per word, rows in the order of raw/<word>.ndjson. doodlequest/extra.ndjson: our\n"
        "extra fields by key_id.\n"
        "manifest.json: counts, sha256 checksums, filters, consent policy versions.\n",
        encoding="utf-8")
    files_meta = await asyncio.to_thread(_checksums, out)
    manifest = {
        "format": FORMAT, "exported_at": exported_at.isoformat(), "countrycode": countrycode,
        "filters": filters.as_dict(),
        "counts": {"drawings": total, "by_word": dict(sorted(by_label.items()))},
        "files": files_meta,
        "consent_policy_versions": sorted(policies),
        "credit": CREDIT, "note": NOTE,
        "numpy_bitmap_row_order": "same as the lines of raw/<word>.ndjson",
        "binary_record_order": "same as the lines of raw/<word>.ndjson",
        "file_names": {w: s for w, s in sorted(stems.items())},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")
    return ExportResult(out, total, by_label, manifest)


def _checksums(out: Path) -> list[dict[str, Any]]:
    return [{"path": p.relative_to(out).as_posix(), "bytes": p.stat().st_size,
             "sha256": sha256_file(p)}
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "manifest.json"]
