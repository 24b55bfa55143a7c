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


def run_child(command: list[str], log_path: str) -> dict:
    """Run a command as a child process (stdout and stderr to LOG_PATH) and measure it: wall
    seconds, its own CPU seconds and peak RSS (from wait4, so threads count and nothing else
    does), and the CPU that other processes used meanwhile (cores). Raises on a failed exit."""
    import subprocess
    with open(log_path, "wb") as log:
        busy0, own0, started = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        own = own_cpu_seconds() - own0
        busy = machine_busy_seconds() - busy0
    if child.returncode != 0:
        with open(log_path, "rb") as log:
            tail = log.read()[-3000:].decode("utf-8", "replace")
        raise RuntimeError(f"{' '.join(command)} exited with {child.returncode}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": seconds, "cpu": cpu, "rss_mb": usage.ru_maxrss / 1024,
            "others": max(0.0, busy - cpu - own) / seconds}
