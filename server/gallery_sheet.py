"""The gallery as one PNG sheet (Pillow): a row of drawings per topic, each with its seat, its
animal and what the computer guessed. Drawn from the strokes' points, never from screenshots."""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

COLUMNS = 6
CELL_W, CELL_H = 250, 230  # one drawing with its caption
PAD = 12
HEADING_H = 56
TITLE_H = 70
MAX_DRAWINGS = 240  # a sheet of a long session stays a few tens of MB while drawn
INK = (26, 26, 46)
GOOD = (46, 125, 50)
PAPER = (255, 255, 255)
SKY = (227, 244, 255)
GREY = (120, 130, 140)
# Korean topic names need a Korean font: the first one installed; without any, English names.
KOREAN_FONTS = (
    "/usr/share/fonts/truetype/nanum/NanumSquareRoundB.ttf",
    "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf",
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


@lru_cache(maxsize=8)
def _font(size: int) -> tuple[Any, bool]:
    """A font of `size` px and whether it has Korean glyphs."""
    for path in KOREAN_FONTS:
        if Path(path).is_file():
            try:
                return ImageFont.truetype(path, size), True
            except OSError:
                continue
    return ImageFont.load_default(size), False


def _name(topic: dict[str, Any], korean: bool) -> str:
    return f"{topic['name_ko']} · {topic['name_en']}" if korean else topic["name_en"]


def _draw_strokes(draw: ImageDraw.ImageDraw, strokes: list[list[int]], canvas: list[int],
                  box: tuple[int, int, int, int]) -> None:
    """The strokes scaled into `box` (left, top, width, height), keeping their proportions,
    framed to their ink (a small drawing in a corner fills its cell, enlarged at most 3x)."""
    left, top, width, height = box
    xs = [v for flat in strokes for v in flat[0::2]]
    ys = [v for flat in strokes for v in flat[1::2]]
    cw, ch = max(1, canvas[0]), max(1, canvas[1])
    x0, y0, x1, y1 = (min(xs), min(ys), max(xs), max(ys)) if xs and ys else (0, 0, cw, ch)
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    scale = min(width / w, height / h, 3 * min(width / cw, height / ch))
    ox = left + (width - w * scale) / 2 - x0 * scale
    oy = top + (height - h * scale) / 2 - y0 * scale
    for flat in strokes:
        points = [(ox + flat[i] * scale, oy + flat[i + 1] * scale)
                  for i in range(0, len(flat) - 1, 2)]
        if len(points) == 1:
            x, y = points[0]
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=INK)
        elif points:
            draw.line(points, fill=INK, width=3, joint="curve")


def render_sheet(view: dict[str, Any]) -> bytes:
    """The gallery view (`server.gallery.gallery_view`) as PNG bytes."""
    title_font, korean = _font(34)
    heading_font, _ = _font(26)
    caption_font, _ = _font(17)
    rows: list[tuple[str, Any]] = []  # ("heading", group) or ("cells", [drawings])
    shown = 0
    for group in view["groups"]:
        drawings = group["drawings"][: max(0, MAX_DRAWINGS - shown)]
        if not drawings:
            break
        shown += len(drawings)
        rows.append(("heading", group))
        for i in range(0, len(drawings), COLUMNS):
            rows.append(("cells", drawings[i:i + COLUMNS]))
    width = PAD + COLUMNS * (CELL_W + PAD)
    height = TITLE_H + sum(HEADING_H if kind == "heading" else CELL_H + PAD for kind, _ in rows)
    height += 40  # the footer
    image = Image.new("RGB", (width, height), SKY)
    draw = ImageDraw.Draw(image)
    room = view["class"]
    title = room["name"] if korean else room["code"]
    draw.text((PAD, 16), f"{title} · {room['code']} · {view['count']} drawings", font=title_font,
              fill=INK)
    y = TITLE_H
    for kind, item in rows:
        if kind == "heading":
            draw.text((PAD, y + 12), _name(item["topic"], korean), font=heading_font, fill=INK)
            y += HEADING_H
            continue
        for column, drawing in enumerate(item):
            x = PAD + column * (CELL_W + PAD)
            border = GOOD if drawing["recognized"] else INK
            draw.rounded_rectangle((x, y, x + CELL_W, y + CELL_H), radius=14, fill=PAPER,
                                   outline=border, width=3)
            _draw_strokes(draw, drawing["strokes"], drawing["canvas"],
                          (x + 10, y + 10, CELL_W - 20, CELL_H - 66))
            draw.text((x + 12, y + CELL_H - 52), f"#{drawing['seat']} {drawing['animal']}",
                      font=caption_font, fill=INK)
            guess = drawing["guess"]
            said = f"guessed: {_name(guess, korean)}" if guess else "no guess"
            draw.text((x + 12, y + CELL_H - 28), said, font=caption_font,
                      fill=GOOD if drawing["recognized"] else GREY)
        y += CELL_H + PAD
    more = view["count"] - shown
    footer = "Doodle Quest" + (f" · and {more} more drawings (see the page)" if more > 0 else "")
    draw.text((PAD, height - 32), footer, font=caption_font, fill=GREY)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
