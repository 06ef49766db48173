"""A step's result reaches every request waiting for it in the process, and nobody else."""

import asyncio

from core.handover import Handover


async def test_every_request_waiting_for_a_key_gets_what_its_step_gives() -> None:
    answers: Handover[str, int] = Handover()
    with answers.awaiting("a") as first, answers.awaiting("a") as second:
        with answers.awaiting("b") as other:
            answers.give("a", 7)
            assert (await first, await second) == (7, 7)
            assert not other.done()
            answers.give("a", 8)  # given once: a later result changes nothing
            assert first.result() == 7
        assert len(answers) == 1
    assert len(answers) == 0


async def test_a_step_without_a_result_gives_none_and_nobody_waiting_is_a_no_op() -> None:
    answers: Handover[str, int] = Handover()
    answers.give("nobody", 1)
    with answers.awaiting("a") as given:
        answers.give("a", None)
        assert await asyncio.wait_for(given, 1) is None
    assert len(answers) == 0
