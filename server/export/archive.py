"""Stream a finished export directory as a POSIX tar, a chunk at a time (memory stays flat).

Each member's header is built with `tarfile.TarInfo.tobuf`, the file follows in 1 MiB chunks,
padded to 512-byte blocks, and two zero blocks end the archive.
"""
from __future__ import annotations

import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

BLOCK = 512
CHUNK = 1 << 20


def tar_members(root: Path) -> list[Path]:
    """Files of the export, manifest.json first so a reader sees it before anything else."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return sorted(files, key=lambda p: p.name != "manifest.json")


def iter_tar(root: str | Path, prefix: str = "") -> Iterator[bytes]:
    """The bytes of a tar of every file under `root` (names relative to it, under `prefix/`)."""
    root = Path(root)
    now = int(time.time())
    for path in tar_members(root):
        info = tarfile.TarInfo(name=f"{prefix}/{path.relative_to(root).as_posix()}".lstrip("/"))
        info.size = path.stat().st_size
        info.mtime = now
        info.mode = 0o644
        yield info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8")
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
        if info.size % BLOCK:
            yield b"\0" * (BLOCK - info.size % BLOCK)
    yield b"\0" * (2 * BLOCK)
