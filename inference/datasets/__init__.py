"""Readers for Google's Quick, Draw! files in every published format.

Every stroke reader yields `Sketch` records with the drawing as Google's column strokes
`[[xs], [ys]]` or `[[xs], [ys], [ts]]`; bitmap readers yield uint8 (28, 28) images. Formats:

- `.ndjson`: raw (`[[x], [y], [t]]`, screen pixels) and simplified (`[[x], [y]]`, 0..255).
- `.bin`: Google's binary simplified format (see `read_bin`).
- `.npy`: `numpy_bitmap` rows, (n, 784) uint8.
- `.npz`: sketch-rnn stroke-3 (`train`/`valid`/`test` or `sketches` keys), or a bitmap bundle
  (`x` images, `y` labels, `class_names`) or `images` (+ `key_ids`).

Credit: Quick, Draw! dataset, Google, CC BY 4.0 (https://github.com/googlecreativelab/quickdraw-dataset).
"""
from inference.datasets.readers import (
    Sketch,
    class_name_from_path,
    find_class_files,
    read_bin,
    read_bitmap_npy,
    read_bitmap_npz,
    read_ndjson,
    read_sketchrnn_npz,
    read_strokes,
    stroke3_to_strokes,
    strokes_to_stroke3,
    write_bin,
)

__all__ = [
    "Sketch",
    "class_name_from_path",
    "find_class_files",
    "read_bin",
    "read_bitmap_npy",
    "read_bitmap_npz",
    "read_ndjson",
    "read_sketchrnn_npz",
    "read_strokes",
    "stroke3_to_strokes",
    "strokes_to_stroke3",
    "write_bin",
]
