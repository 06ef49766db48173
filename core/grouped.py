"""Concurrent calls gathered into groups, each group written by one call of a writer.

While one group is being written, the calls that arrive wait together and become the next group
(as a database's group commit gathers the commits that arrive during a flush): one writer per
process, one write per group, no timer. Each call gets its own outcome. If a group's write
fails as a whole, its calls are written one at a time, so one bad call fails only its caller.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Writer = Callable[[Sequence[T]], Awaitable[Sequence[R | Exception]]]


class Grouped(Generic[T, R]):
    def __init__(self, write: Writer[T, R], most: int = 64):
        self._write, self._most = write, most
        self._waiting: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run(), name="grouped-writer")
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.put_nowait((item, done))
        return await done

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    async def _run(self) -> None:
        while True:
            group = [await self._waiting.get()]
            while len(group) < self._most and not self._waiting.empty():
                group.append(self._waiting.get_nowait())
            try:
                await self._settle(group)
            except asyncio.CancelledError:
                for _, done in group:
                    done.cancel()
                raise
            except Exception as failed:  # a writer that does not answer its calls: none waits
                for _, done in group:
                    _resolve(done, failed)

    async def _settle(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._write([item for item, _ in group])
        except Exception as failed:  # each call gets the failure, alone
            if len(group) == 1:
                _resolve(group[0][1], failed)
                return
            for one in group:
                await self._settle([one])
            return
        if len(outcomes) != len(group):
            raise ValueError(f"{len(group)} calls written, {len(outcomes)} outcomes")
        for (_, done), outcome in zip(group, outcomes, strict=True):
            _resolve(done, outcome)


def _resolve(done: "asyncio.Future[R]", outcome: "R | Exception") -> None:
    if done.done():  # its caller stopped waiting
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
