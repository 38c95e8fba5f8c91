"""QR codes for the teacher's projector: a tablet's camera opens the class's join URL."""
from __future__ import annotations

import io
import re

import segno


def qr_svg(data: str) -> bytes:
    """`data` as a QR code in SVG (error correction M, black on white, a 4-module quiet zone)."""
    out = io.BytesIO()
    # scale 10: crisp at any size (the page scales the SVG); no XML declaration, so the page may
    # put it straight into its document.
    segno.make(data, error="m", micro=False).save(
        out, kind="svg", scale=10, border=4, xmldecl=False, svgns=True, dark="#000", light="#fff"
    )
    # A viewBox instead of a fixed size: the page scales the code to its box without cropping.
    return re.sub(rb'width="(\d+)" height="(\d+)"', rb'viewBox="0 0 \1 \2"', out.getvalue(),
                  count=1)
