"""CPU-load helpers shared by the benchmarks: how busy the machine is, and waiting for quiet."""
from __future__ import annotations

import os
import time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_seconds() -> float:
    """CPU seconds all processes on this machine have used (user+system+irq, from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return 0.0
    return (sum(values) - values[3] - values[4]) / _TICK  # minus idle and iowait


def own_cpu_seconds() -> float:
    usage = os.times()
    return usage.user + usage.system


def wait_for_quiet(limit: float) -> float:
    """Wait (up to `limit` s) until other processes use under 10% of one core; return their load."""
    deadline = time.monotonic() + limit
    while True:
        busy, started = machine_busy_seconds(), time.monotonic()
        time.sleep(0.5)
        load = (machine_busy_seconds() - busy) / (time.monotonic() - started)
        if load < 0.1 or time.monotonic() >= deadline:
            return load


def machine_text() -> str:
    """The CPU model, core count and memory, for the benchmarks' reports."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB"
