"""Research export of consented drawings in Google's Quick, Draw! formats (docs/privacy.md).

`run_export(engine=..., out_dir=..., filters=...)` writes an export directory;
`iter_tar(dir)` streams it as a tar; `python -m server.export --out DIR` is the command line.
"""
from .archive import iter_tar
from .filters import AGE_BANDS, ExportFilters, parse_time
from .writer import CREDIT, NOTE, ExportResult, run_export

__all__ = ["AGE_BANDS", "CREDIT", "NOTE", "ExportFilters", "ExportResult", "iter_tar",
           "parse_time", "run_export"]
