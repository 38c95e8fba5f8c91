"""Model-card writing and confusion-matrix pictures (PIL only; no plotting library needed)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def confusion_png(path: Path, confusion: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> None:
    """Row-normalised confusion matrix (rows: truth, columns: top-1 guess) as a heat map."""
    conf = np.asarray(confusion, dtype=np.float64)
    n = len(labels)
    rows = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    cell, left, top = 22, 130, 150
    img = Image.new("RGB", (left + n * cell + 10, top + n * cell + 10), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    d.text((5, 5), title, fill="black", font=font)
    for i, label in enumerate(labels):
        d.text((5, top + i * cell + 5), label[:20], fill="black", font=font)
        # Column labels, written vertically by rotating a small text image.
        t = Image.new("RGB", (top - 25, cell), "white")
        ImageDraw.Draw(t).text((2, 5), label[:20], fill="black", font=font)
        img.paste(t.rotate(90, expand=True), (left + i * cell, 20))
        for j in range(n):
            v = rows[i, j]
            shade = int(255 * (1 - v))
            colour = (shade, shade, 255) if i == j else (255, shade, shade)
            d.rectangle([left + j * cell, top + i * cell, left + (j + 1) * cell - 1, top + (i + 1) * cell - 1], fill=colour)
            if v >= 0.05:
                d.text((left + j * cell + 2, top + i * cell + 5), f"{int(round(v * 100))}", fill="black", font=font)
    img.save(path)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _ensemble_lines(card: dict[str, Any]) -> list[str]:
    """How an ensemble's members were trained (each member's own command, then the merge above),
    and a distilled model's teacher."""
    lines: list[str] = []
    ens = card.get("ensemble")
    if ens:
        lines += [f"An ensemble as one network: {ens['combination']}. Its members, trained first (each "
                  "command writes the directory the merge command above reads):", ""]
        for m in ens["members"]:
            weight = f", weight {m['weight']:g}" if m.get("weight", 1.0) != 1.0 else ""
            lines += [f"- `{m['name']}` ({m.get('train_seconds') or '?'} s of training{weight}):", "",
                      f"      {m.get('command')}", ""]
    dist = card.get("distillation")
    if dist:
        lines += [f"Distilled from `{dist['teacher_name']}` (`{dist['teacher']}`): each training image's target is "
                  f"{dist['weight']:.0%} the teacher's probabilities and the rest its label.", ""]
    return lines


def card_markdown(card: dict[str, Any]) -> str:
    """A readable model card from card.json."""
    m = card["metrics"]
    lines = [
        f"# {card['name']}",
        "",
        card.get("description", ""),
        "",
        f"Trained {card['date']} with seed {card['seed']}:",
        "",
        f"    {card['command']}",
        "",
        f"Data: {card['dataset_credit']}. {card['data']['summary']}",
        "",
        *_ensemble_lines(card),
        ("## Input (the rasteriser spec, and the point sequence under \"sequence\"; `inference.inputs.drawing_input`)"
         if "sequence" in card["input"] else
         "## Input (the rasteriser spec; `inference.raster.rasterize(strokes, card['input'])`)"),
        "",
        "```json",
        __import__("json").dumps(card["input"], indent=1),
        "```",
        "",
        f"Architecture: {card['architecture']['name']}, {card['architecture']['params']:,} parameters, "
        f"{card['architecture']['macs']:,} multiply-adds per image. Output: softmax over `labels.json` "
        "(mask to a category's labels and renormalise).",
        "",
        "## Accuracy within each category",
        "",
        "Held-out simplified drawings (seeded class-balanced split) and held-out real raw drawings "
        "(with timing; never trained on), through the serving path (rasterise + LiteRT model + mask).",
        "",
        "| category | labels | test n | top-1 | top-3 | real n | real top-1 | real top-3 | recognised after 25/50/75/100%% strokes (real, p>=%.2f) |" % m["threshold"],
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for code, c in m["categories"].items():
        t, r = c.get("test", {}), c.get("real", {})
        er = r.get("early_recognition", {}).get("recognized", [])
        lines.append(
            f"| {code} | {len(c['labels'])} | {t.get('n', 0)} | {_pct(t.get('top1'))} | {_pct(t.get('top3'))} | "
            f"{r.get('n', 0)} | {_pct(r.get('top1'))} | {_pct(r.get('top3'))} | {' / '.join(_pct(v) for v in er)} |"
        )
    o = m["overall"]
    lines += [
        f"| **mean** | | | **{_pct(o['test_top1'])}** | **{_pct(o['test_top3'])}** | | {_pct(o.get('real_top1'))} | {_pct(o.get('real_top3'))} | {' / '.join(_pct(v) for v in o.get('real_early_recognition', []))} |",
        "",
        "Per-class accuracy and confusion matrices: `card.json` and `confusion_<category>.png`.",
        "",
    ]
    lines += _proxy_lines(m)
    lines += [
        "## Limits",
        "",
        "Trained on adults' and older children's drawings from Quick, Draw!; young children draw "
        "differently. No drawings by 3-8 year olds were available to train or measure on: the "
        "child-likeness proxy above stands in for them and overstates a model trained on similar "
        "distortions; Google's missed drawings are real but drawn by players of every age.",
        "",
    ]
    return "\n".join(lines)


def _proxy_lines(m: dict[str, Any]) -> list[str]:
    """Card sections for the child-likeness proxy, Google's misses and calibration (when measured)."""
    lines: list[str] = []
    proxy, unrec, cal = m.get("child_proxy"), m.get("unrecognized"), m.get("calibration")
    if proxy:
        lines += [
            "## Child-likeness proxy and Google's misses",
            "",
            f"Proxy `{proxy['version']}` (seed {proxy['seed']}): {proxy['what']}. `real`: the held-out raw "
            "drawings; `test`: up to 20 held-out simplified drawings a label. Recognised: target top-1 with "
            f"p >= {m['threshold']:.2f} (the game's rule). Google's misses: drawings marked `recognized: false`.",
            "",
            "| category | proxy real n | proxy real top-1 | proxy real recognised | proxy test top-1 | Google's misses n | their top-1 |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for code in proxy["real"]["categories"]:
            r = proxy["real"]["categories"].get(code) or {}
            t = proxy["test"]["categories"].get(code) or {}
            u = (unrec or {}).get("categories", {}).get(code) or {}
            lines.append(f"| {code} | {r.get('n', 0)} | {_pct(r.get('top1'))} | {_pct(r.get('recognized'))} | "
                         f"{_pct(t.get('top1'))} | {u.get('n', 0)} | {_pct(u.get('top1'))} |")
        lines += [
            f"| **mean** | | **{_pct(proxy['real']['mean_top1'])}** | {_pct(proxy['real']['mean_recognized'])} | "
            f"{_pct(proxy['test']['mean_top1'])} | {(unrec or {}).get('n', 0)} | {_pct((unrec or {}).get('mean_top1'))} |",
            "",
        ]
    cmp = m.get("compared_with")
    lines += _comparison_lines(cmp) if cmp else []
    if cal:
        lines += [
            "## Calibration",
            "",
            f"Temperature {cal['temperature']:.3f} ({cal['fitted_on']}), baked into the output layer. "
            f"Expected calibration error of the within-category top-1 probability on the held-out test "
            f"split: {cal['test_ece_before']:.3f} before, {cal['test_ece_after']:.3f} after "
            "(`reliability.png`).",
            "",
        ]
    return lines


_COMPARED_SETS = (("raw", "adults' real raw drawings"), ("proxy_0.6", "proxy, strength 0.6 (ages 7-8)"),
                  ("proxy", "proxy, strength 1.0 (the card's)"), ("proxy_1.6", "proxy, strength 1.6 (ages 3-4)"),
                  ("unrec", "raw drawings Google's model missed"))


def _comparison_lines(cmp: dict[str, Any]) -> list[str]:
    """Side by side with earlier models, from `card["metrics"]["compared_with"]` (inference.evaluate runs)."""
    rows = cmp["rows"]
    names = list(rows)
    head = " | ".join(f"{n} top-1" for n in names) + " | " + " | ".join(f"{n} recognised at the end" for n in names)
    lines = ["## Side by side with " + ", ".join(n for n in names[:-1]), "", f"{cmp['what']}: `{cmp['command']}`.", "",
             f"| drawings | n | {head} |", "| --- | --- |" + " --- |" * (2 * len(names))]
    for key, text in _COMPARED_SETS:
        vals = [rows[n].get(key) for n in names]
        if all(vals):
            top1 = [_pct(v["top1"]) for v in vals]
            top1[-1] = f"**{top1[-1]}**"
            rec = [_pct(v["recognized_at_end"]) for v in vals]
            lines.append(f"| {text} | {vals[-1]['n']} | " + " | ".join(top1) + " | " + " | ".join(rec) + " |")
    return lines + [""]
