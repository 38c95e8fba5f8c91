"""CPU and memory of a process tree from /proc (psutil is not installed)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from 3 (state) on


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds of `pid` (0 if gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of `pid` in KiB ((0, 0) if gone)."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (the server and its inference workers)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def runqueue_wait_s(pid: int) -> float:
    """Seconds `pid` spent runnable but waiting for a CPU (/proc/<pid>/schedstat), 0 if gone."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


@dataclass
class Sample:
    at_s: float
    cpu_s: dict[int, float]
    rss_kib: dict[int, int]
    hwm_kib: dict[int, int]
    wait_s: dict[int, float] | None = None
    cmd: dict[int, str] | None = None

    @property
    def total_cpu_s(self) -> float:
        return sum(self.cpu_s.values())

    @property
    def total_rss_kib(self) -> int:
        return sum(self.rss_kib.values())

    @property
    def total_hwm_kib(self) -> int:
        return sum(self.hwm_kib.values())


def sample(roots: list[int]) -> Sample:
    """CPU and memory of every process in the trees under `roots`."""
    pids = [p for r in roots for p in tree(r)]
    cpu, rss, hwm, wait = {}, {}, {}, {}
    for p in pids:
        cpu[p] = cpu_s(p)
        rss[p], hwm[p] = memory_kib(p)
        wait[p] = runqueue_wait_s(p)
    return Sample(time.monotonic(), cpu, rss, hwm, wait)


def cpu_percent(before: Sample, after: Sample) -> float:
    """CPU used between two samples, in percent of one core (processes alive in both)."""
    wall = after.at_s - before.at_s
    if wall <= 0:
        return 0.0
    used = sum(c - before.cpu_s.get(p, 0.0) for p, c in after.cpu_s.items() if p in before.cpu_s)
    return 100.0 * used / wall


def self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system
