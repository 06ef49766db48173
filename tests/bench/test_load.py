"""The benches' closed-loop load: paths measured side by side take turns, run by run."""

import os

from bench.load import Call, Workload, side_by_side


async def test_paths_take_turns_and_each_is_figured_at_its_own_level() -> None:
    seen: list[str] = []

    def path(name: str, fails_on: int | None = None) -> Call:
        async def call(lane: int) -> None:
            seen.append(name)
            if lane == fails_on:
                raise RuntimeError(f"{name} refused")

        return call

    me = {"this": os.getpid()}
    first, second = await side_by_side(
        [Workload(path("a"), me, total=4, concurrency=2), Workload(path("b", 1), {}, 6, 3)], runs=3
    )
    assert seen == ["a"] * 4 + ["b"] * 6 + ["b"] * 6 + ["a"] * 4 + ["a"] * 4 + ["b"] * 6
    assert first["errors"] == 0 and set(first["cpu_ms_per_call"]) == {"this"}
    assert first["cpu_ms_per_call"]["this"] >= 0 and "cpu_share_of_a_core" in first
    assert (
        second["errors"] == 6
        and second["per_s"] > 0
        and second["first_error"] == "RuntimeError: b refused"
    )
    assert "cpu_ms_per_call" not in second
