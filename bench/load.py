"""Closed-loop load: `concurrency` lanes each send one call after the other; figures over runs."""

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Call = Callable[[int], Awaitable[object]]  # lane number -> anything (raises on a failure)


async def level(call: Call, total: int, concurrency: int) -> dict[str, Any]:
    """`total` calls spread over `concurrency` lanes: calls/s, p50/p99 latency, errors."""
    latencies: list[float] = []
    errors: list[str] = []

    async def lane(number: int) -> None:
        for _ in range(total // concurrency):
            started = time.perf_counter()
            try:
                await call(number)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(lane(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000, 1)
        if latencies
        else None,
        "calls": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


@dataclass(frozen=True)
class Workload:
    """One path a bench drives: its call, the processes whose CPU it counts (role -> pid), and
    its level (`total` calls over `concurrency` lanes)."""

    call: Call
    pids: dict[str, int]
    total: int
    concurrency: int


async def measure(
    call: Call, total: int, concurrency: int, runs: int, pids: dict[str, int] | None = None
) -> dict[str, Any]:
    """`runs` levels: each figure's median and spread, and the share of a core each process in
    `pids` (role -> pid) used while they ran, and its CPU time per call."""
    (figures,) = await side_by_side([Workload(call, pids or {}, total, concurrency)], runs)
    return figures


async def side_by_side(paths: list[Workload], runs: int) -> list[dict[str, Any]]:
    """`measure` for several paths whose runs take turns, each round in the other order than
    the one before, so that a machine that slows down or speeds up weighs on all of them alike:
    each path's figures, in order. Paths compared with each other (a path and its floor, one
    level and another) are measured this way, never one after the other."""
    results: list[list[dict[str, Any]]] = [[] for _ in paths]
    cpu = [dict.fromkeys(path.pids, 0.0) for path in paths]
    calls, walls = [0] * len(paths), [0.0] * len(paths)
    order = list(range(len(paths)))
    for _ in range(runs):
        for n in order:
            path = paths[n]
            before = {role: cpu_seconds(pid) for role, pid in path.pids.items()}
            started = time.perf_counter()
            result = await level(path.call, path.total, path.concurrency)
            wall = time.perf_counter() - started
            results[n].append(result)
            calls[n] += result["calls"]
            walls[n] += wall
            for role, pid in path.pids.items():
                cpu[n][role] += cpu_seconds(pid) - before[role]
        order.reverse()
    figures = [median_of(runs_of_path) for runs_of_path in results]
    for figured, used, done, wall in zip(figures, cpu, calls, walls, strict=True):
        if used:
            figured["cpu_share_of_a_core"] = {role: round(t / wall, 2) for role, t in used.items()}
            figured["cpu_ms_per_call"] = {
                role: round(t / max(done, 1) * 1000, 1) for role, t in used.items()
            }
    return figures


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs, with its spread (min, max)."""
    figures: dict[str, Any] = {}
    for key in ("per_s", "p50_ms", "p99_ms"):
        values = [run[key] for run in runs if run[key] is not None]
        if values:
            figures[key] = statistics.median(values)
            figures[f"{key}_spread"] = [min(values), max(values)]
    figures["errors"] = sum(run["errors"] for run in runs)
    first = next((run["first_error"] for run in runs if run["first_error"]), None)
    if first:
        figures["first_error"] = first
    return figures


def check(value: float | None, op: str, target: float) -> bool:
    if value is None:
        return False
    return value <= target if op == "<=" else value >= target


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 in ms of samples in seconds."""
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000, 2),
    }


def timed(call: Callable[[], object], n: int) -> list[float]:
    """`n` timed calls (seconds each), after up to 20 untimed ones to warm up."""
    for _ in range(min(20, n)):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples
