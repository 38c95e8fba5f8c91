"""`python -m bench.recognition_rule`: which recognition rule, for which age band?

A stage ends as soon as any guess (after every stroke) satisfies the recognition rule, so a rule
is judged over every prefix of a drawing. On held-out real drawings, per category:

- true acceptance: the share of drawings of label L that the rule accepts as L at some stroke;
- false acceptance: for a drawing of L and every other target T of its category, the share of
  (drawing, T) pairs the rule accepts as T at some stroke — a child asked for T who drew L.

Each rule is measured on the adults' held-out raw drawings and on the child-likeness proxy of
them at each age band's strength (`inference.child_proxy.BAND_STRENGTH`); for each band the
chosen rule is the one that accepts the most honest proxy drawings while wrongly accepting at
most the band's cap, on the proxy and on the adults' drawings alike. Guesses come from the
server's own path (`inference.service.open_recognizer`: same rasteriser, same masking to the
category). Writes JSON to bench/results/ and prints markdown tables for docs/recognition-rule.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path

from game.rules import AGE_BANDS, RecognitionRule
from inference.api import RecognizeRequest
from inference.child_proxy import BAND_STRENGTH, child_proxy_drawing
from inference.service import open_recognizer

REPO = Path(__file__).resolve().parents[2]
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TOP_KS = (1, 2, 3)
#: The most wrong drawings a band's rule may accept (a child who drew something else passing).
FALSE_ACCEPT_CAP = {"3-4": 0.10, "5-6": 0.07, "7-8": 0.05, "none": 0.05}
TODAY = RecognitionRule(1, 0.5)

Drawing = list[list[tuple[float, float, float]]]


def load_raw(path: Path, limit: int) -> list[list[list[list[float]]]]:
    """Up to `limit` raw drawings (Google's column format with time) of one label."""
    if not path.exists():
        return []
    return [json.loads(line)["drawing"] for line in path.read_text(encoding="utf-8").splitlines()[:limit] if line]


def as_points(columns: list[list[list[float]]]) -> Drawing:
    """Column format to the recogniser's (x, y, t) points; proxy drawings get 10 ms a point."""
    out, t = [], 0.0
    for s in columns:
        ts = s[2] if len(s) > 2 else [t + 10.0 * i for i in range(len(s[0]))]
        t = ts[-1] + 10.0 if ts else t
        out.append(list(zip(s[0], s[1], ts, strict=True)))
    return out


def drawing_sets(models: Path, data: Path, per_label: int) -> dict[str, dict[str, list[tuple[str, Drawing]]]]:
    """{set name: {category: [(label, drawing)]}}: "adults" and "proxy <band>" for each band."""
    categories = json.loads((models / "categories.json").read_text(encoding="utf-8"))["categories"]
    sets: dict[str, dict[str, list[tuple[str, Drawing]]]] = defaultdict(lambda: defaultdict(list))
    for category in categories:
        i = 0
        for t in category["topics"]:
            for raw in load_raw(data / f"{t['label']}.ndjson", per_label):
                sets["adults"][category["code"]].append((t["label"], as_points(raw)))
                for band in AGE_BANDS:
                    proxy = child_proxy_drawing(raw, i, strength=BAND_STRENGTH[band])
                    sets[f"proxy {band}"][category["code"]].append((t["label"], as_points(proxy)))
                i += 1
    return sets


async def prefix_guesses(models: Path, drawings: dict[str, list[tuple[str, Drawing]]]) -> dict[str, list[tuple[str, list]]]:
    """Per category: (label, [guesses after stroke 1, 2, ...]) for every drawing."""
    categories = {c["code"]: c for c in json.loads((models / "categories.json").read_text(encoding="utf-8"))["categories"]}
    out: dict[str, list[tuple[str, list]]] = defaultdict(list)
    async with open_recognizer(models) as recognizer:
        for code, items in drawings.items():
            labels = tuple(t["label"] for t in categories[code]["topics"])
            requests = []
            for d, (label, drawing) in enumerate(items):
                for n in range(1, len(drawing) + 1):
                    requests.append((label, d, RecognizeRequest(f"{code}:{d}:{n}", code, labels, drawing[:n], top_k=3)))
            in_flight = asyncio.Semaphore(64)  # below the pool's queue bound

            async def ask(request: RecognizeRequest) -> list:
                async with in_flight:
                    return await recognizer.recognize(request)

            answers = await asyncio.gather(*(ask(r) for *_, r in requests))
            by_drawing: dict[int, tuple[str, list]] = {}
            for (label, d, _), guesses in zip(requests, answers, strict=True):
                by_drawing.setdefault(d, (label, []))[1].append([(g.label, g.probability) for g in guesses])
            out[code].extend(by_drawing.values())
    return out


def judge(rule: RecognitionRule, drawings: dict[str, list[tuple[str, list]]],
          labels_of: dict[str, list[str]]) -> dict[str, float]:
    accepted = total = false_acc = false_total = 0
    for code, items in drawings.items():
        for label, prefixes in items:
            total += 1
            accepted += any(rule.accepts(label, g) for g in prefixes)
            for other in labels_of[code]:
                if other != label:
                    false_total += 1
                    false_acc += any(rule.accepts(other, g) for g in prefixes)
    return {"true_acceptance": accepted / max(total, 1),
            "false_acceptance": false_acc / max(false_total, 1),
            "drawings": total, "wrong_pairs": false_total}


def choose(rows: list[dict], band: str) -> dict:
    """The rule accepting the most honest drawings of the band's proxy within the band's cap."""
    cap = FALSE_ACCEPT_CAP[band]
    on = "adults" if band == "none" else f"proxy {band}"
    ok = [r for r in rows if r["sets"][on]["false_acceptance"] <= cap and r["sets"]["adults"]["false_acceptance"] <= cap]
    best = max(ok, key=lambda r: (round(r["sets"][on]["true_acceptance"], 4), r["min_probability"]))
    return {"band": band, "top_k": best["top_k"], "min_probability": best["min_probability"], "cap": cap, "judged_on": on}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=REPO / "models")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "quickdraw" / "strokes" / "raw",
                    help="raw ndjson per label, held out from training")
    ap.add_argument("--per-label", type=int, default=60)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "latest-recognition-rule.json")
    args = ap.parse_args(argv)
    started = time.time()
    categories = json.loads((args.models / "categories.json").read_text(encoding="utf-8"))["categories"]
    labels_of = {c["code"]: [t["label"] for t in c["topics"]] for c in categories}
    sets = drawing_sets(args.models, args.data, args.per_label)
    guesses = {name: asyncio.run(prefix_guesses(args.models, items)) for name, items in sets.items()}
    rows = []
    for top_k in TOP_KS:
        for threshold in THRESHOLDS:
            rule = RecognitionRule(top_k, threshold)
            rows.append({"top_k": top_k, "min_probability": threshold,
                         "sets": {name: judge(rule, g, labels_of) for name, g in guesses.items()}})
    chosen = [choose(rows, band) for band in (*AGE_BANDS, "none")]
    names = list(guesses)
    print("| rule | " + " | ".join(f"{n}: true / false" for n in names) + " |")
    print("| --- |" + " --- |" * len(names))
    for r in rows:
        cells = [f"{r['sets'][n]['true_acceptance']:.1%} / {r['sets'][n]['false_acceptance']:.2%}" for n in names]
        print(f"| top-{r['top_k']}, p >= {r['min_probability']:.2f} | " + " | ".join(cells) + " |")
    today = next(r for r in rows if (r["top_k"], r["min_probability"]) == (TODAY.top_k, TODAY.min_probability))
    print("\n| band | chosen rule | false-accept cap | honest accepted (band's proxy) | wrong accepted (proxy / adults) | today's rule on that proxy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for c in chosen:
        r = next(x for x in rows if (x["top_k"], x["min_probability"]) == (c["top_k"], c["min_probability"]))
        s, a = r["sets"][c["judged_on"]], r["sets"]["adults"]
        print(f"| {c['band']} | top-{c['top_k']}, p >= {c['min_probability']:.2f} | {c['cap']:.0%} | {s['true_acceptance']:.1%} | "
              f"{s['false_acceptance']:.2%} / {a['false_acceptance']:.2%} | {today['sets'][c['judged_on']]['true_acceptance']:.1%} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model_names = sorted({c["model"] for c in categories})
    args.out.write_text(json.dumps({
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(time.time() - started, 1),
        "command": f"python -m bench.recognition_rule --per-label {args.per_label}", "models": model_names,
        "data": "Quick, Draw! raw drawings held out from training (Google, CC BY 4.0), and the child-likeness proxy of them",
        "band_strength": BAND_STRENGTH, "caps": FALSE_ACCEPT_CAP, "rows": rows, "chosen": chosen,
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
