"""Write the page's example drawings: `python scripts/make_examples.py`.

For every label of models/categories.json, up to 3 other children's drawings of it (Google's
simplified format, 0..255) go to server/static/examples/<slug>.json, where the tablet page's
gallery shows them beside a child's own drawing (as Quick, Draw!'s end screen does). They come
from the held-out raw fixtures (tests/fixtures/quickdraw/raw/, never trained on); the page reads
them as plain static files, so nothing but this script needs the fixtures.

Credit: Quick, Draw! dataset, Google, CC BY 4.0.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from inference.raster import simplify_drawing

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "tests" / "fixtures" / "quickdraw" / "raw"
OUT = REPO / "server" / "static" / "examples"
PER_LABEL = 3
CREDIT = "Quick, Draw! dataset, Google, CC BY 4.0 (https://github.com/googlecreativelab/quickdraw-dataset)"


def slug(label: str) -> str:
    """The file name of a label's examples (the page computes the same)."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def main() -> None:
    categories = json.loads((REPO / "models" / "categories.json").read_text(encoding="utf-8"))
    labels = sorted({t["label"] for c in categories["categories"] for t in c["topics"]})
    OUT.mkdir(parents=True, exist_ok=True)
    written = 0
    for label in labels:
        path = RAW / f"{label}.ndjson"
        if not path.exists():
            continue
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows.sort(key=lambda r: not r.get("recognized", False))  # drawings Google's game knew first
        drawings = [simplify_drawing(r["drawing"], "columns") for r in rows[:PER_LABEL]]
        body = {"label": label, "credit": CREDIT, "drawings": drawings}
        (OUT / f"{slug(label)}.json").write_text(json.dumps(body, separators=(",", ":")), encoding="utf-8")
        written += 1
    (OUT / "README.md").write_text(
        "Other children's drawings of each topic, shown in the tablet page's gallery. Written by\n"
        "`python scripts/make_examples.py` from the held-out raw fixtures.\n\n" f"Credit: {CREDIT}.\n",
        encoding="utf-8")
    print(f"{written} labels written to {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
