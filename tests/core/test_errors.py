"""Errors cross Temporal by their code: what leaves an activity comes back as the same error."""

import pytest
from temporalio.exceptions import ApplicationError, TimeoutError, TimeoutType

import api.app  # noqa: F401  (imports every domain, so every error class is registered)
from core.errors import AppError, Forbidden, Unavailable, from_failure, to_failure


@pytest.mark.parametrize("code", sorted(AppError.by_code))
def test_every_error_comes_back_as_itself(code: str) -> None:
    kind = AppError.by_code[code]
    failure = to_failure(kind("told the caller"))
    assert failure.type == code
    assert failure.non_retryable == (kind.status < 500)
    back = from_failure(failure)
    assert (type(back), back.code, back.status, back.detail) == (
        kind,
        code,
        kind.status,
        "told the caller",
    )


def test_an_error_with_a_code_of_its_own_keeps_its_status() -> None:
    back = from_failure(to_failure(Forbidden("not yours", code="wrong_party")))
    assert (back.status, back.code, back.detail) == (403, "wrong_party", "not yours")


@pytest.mark.parametrize(
    "failure",
    [
        ApplicationError("psycopg.errors.UniqueViolation: duplicate key", type="IntegrityError"),
        TimeoutError(
            "activity timed out", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]
        ),
        None,
    ],
)
def test_failures_that_are_not_ours_never_show_their_text(failure: BaseException | None) -> None:
    back = from_failure(failure)
    assert isinstance(back, Unavailable) and "duplicate" not in back.detail
