"""`python -m bench.recognition_rule`: how often would a wrong drawing be accepted?

A stage ends as soon as any guess (after every stroke) satisfies the recognition rule, so a rule
is judged over every prefix of a drawing. On held-out real drawings, per category:

- true acceptance: the share of drawings of label L that the rule accepts as L at some stroke;
- false acceptance: for a drawing of L and every other target T of its category, the share of
  (drawing, T) pairs the rule accepts as T at some stroke — a child asked for T who drew L.

Guesses come from the server's own path (`inference.service.open_recognizer`: same rasteriser,
same masking to the category). Writes JSON to bench/results/ and prints a table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path

from game.rules import RecognitionRule
from inference.api import RecognizeRequest
from inference.service import open_recognizer

REPO = Path(__file__).resolve().parents[2]
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TOP_KS = (1, 2)


def load_raw(path: Path, limit: int) -> list[list[list[tuple[float, float, float]]]]:
    drawings = []
    if not path.exists():
        return drawings
    for line in path.read_text(encoding="utf-8").splitlines()[:limit]:
        strokes = json.loads(line)["drawing"]
        drawings.append([list(zip(s[0], s[1], s[2], strict=True)) for s in strokes])
    return drawings


async def prefix_guesses(models: Path, data: Path, per_label: int) -> dict[str, list[tuple[str, list]]]:
    """Per category: (label, [guesses after stroke 1, 2, ...]) for every held-out drawing."""
    categories = json.loads((models / "categories.json").read_text(encoding="utf-8"))["categories"]
    out: dict[str, list[tuple[str, list]]] = defaultdict(list)
    async with open_recognizer(models) as recognizer:
        for category in categories:
            labels = tuple(t["label"] for t in category["topics"])
            requests = []
            for label in labels:
                for d, drawing in enumerate(load_raw(data / f"{label}.ndjson", per_label)):
                    for n in range(1, len(drawing) + 1):
                        key = f"{category['code']}:{label}:{d}:{n}"
                        requests.append((label, d, n, RecognizeRequest(
                            key, category["code"], labels, drawing[:n], top_k=3)))
            in_flight = asyncio.Semaphore(64)  # below the pool's queue bound

            async def ask(request: RecognizeRequest) -> list:
                async with in_flight:
                    return await recognizer.recognize(request)

            answers = await asyncio.gather(*(ask(r) for *_, r in requests))
            by_drawing: dict[tuple[str, int], list] = defaultdict(list)
            for (label, d, n, _), guesses in zip(requests, answers, strict=True):
                by_drawing[(label, d)].append([(g.label, g.probability) for g in guesses])
            for (label, _), prefixes in by_drawing.items():
                out[category["code"]].append((label, prefixes))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=REPO / "models")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "quickdraw" / "strokes" / "raw",
                    help="raw ndjson per label, held out from training")
    ap.add_argument("--per-label", type=int, default=60)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "latest-recognition-rule.json")
    args = ap.parse_args()
    started = time.time()
    drawings = asyncio.run(prefix_guesses(args.models, args.data, args.per_label))
    categories = json.loads((args.models / "categories.json").read_text(encoding="utf-8"))["categories"]
    labels_of = {c["code"]: [t["label"] for t in c["topics"]] for c in categories}
    rows = []
    for top_k in TOP_KS:
        for threshold in THRESHOLDS:
            result = judge(RecognitionRule(top_k, threshold), drawings, labels_of)
            rows.append({"top_k": top_k, "min_probability": threshold, **result})
    print(f"{'rule':>16} {'true acc.':>10} {'false acc.':>11}")
    for r in rows:
        print(f"top-{r['top_k']} p>={r['min_probability']:.1f} {r['true_acceptance']:>10.1%} {r['false_acceptance']:>11.2%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "seconds": round(time.time() - started, 1),
        "command": "python -m bench.recognition_rule", "models": str(args.models.relative_to(REPO)),
        "data": "Quick, Draw! raw drawings held out from training (Google, CC BY 4.0)",
        "rows": rows,
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
