"""`core.grouped`: calls that arrive together are written together, each answered on its own."""

import asyncio
from collections.abc import Sequence

import pytest

from core.grouped import Grouped


class Doubler:
    """Writes a group by doubling each number; refuses negatives one by one; fails a whole
    group that holds a zero."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []

    async def write(self, group: Sequence[int]) -> list[int | Exception]:
        self.groups.append(list(group))
        await asyncio.sleep(0)
        if 0 in group:
            raise RuntimeError("zero")
        return [ValueError(n) if n < 0 else 2 * n for n in group]


async def test_calls_that_arrive_together_are_one_group_each_answered() -> None:
    doubler = Doubler()
    grouped: Grouped[int, int] = Grouped(doubler.write)
    outcomes = await asyncio.gather(*(grouped(n) for n in (1, 2, -3, 4)), return_exceptions=True)
    await grouped.close()
    assert doubler.groups == [[1, 2, -3, 4]]
    assert outcomes[:2] == [2, 4] and outcomes[3] == 8
    assert isinstance(outcomes[2], ValueError)


async def test_a_group_that_fails_whole_is_written_one_call_at_a_time() -> None:
    doubler = Doubler()
    grouped: Grouped[int, int] = Grouped(doubler.write)
    outcomes = await asyncio.gather(*(grouped(n) for n in (1, 0, 5)), return_exceptions=True)
    await grouped.close()
    assert doubler.groups == [[1, 0, 5], [1], [0], [5]]
    assert outcomes[0] == 2 and outcomes[2] == 10
    assert isinstance(outcomes[1], RuntimeError)


async def test_outcomes_that_do_not_answer_the_calls_fail_them_and_the_writer_goes_on() -> None:
    answers: list[list[int | Exception]] = [[1], [7]]

    async def write(group: Sequence[int]) -> list[int | Exception]:
        return answers.pop(0)

    grouped: Grouped[int, int] = Grouped(write)
    first = await asyncio.wait_for(
        asyncio.gather(grouped(1), grouped(2), return_exceptions=True), 1
    )
    assert all(isinstance(o, ValueError) for o in first)  # one answer for two calls
    assert await asyncio.wait_for(grouped(3), 1) == 7
    await grouped.close()


async def test_a_caller_that_stops_waiting_leaves_the_others_answered() -> None:
    release = asyncio.Event()

    async def write(group: Sequence[int]) -> list[int | Exception]:
        await release.wait()
        return list(group)

    grouped: Grouped[int, int] = Grouped(write)
    gone = asyncio.ensure_future(grouped(1))
    stays = asyncio.ensure_future(grouped(2))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    assert await stays == 2
    with pytest.raises(asyncio.CancelledError):
        await gone
    await grouped.close()
