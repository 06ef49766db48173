"""Errors that carry their HTTP status and a stable code; rendered as RFC 9457 problem+json.

The same errors cross Temporal: an error leaving an activity (or a workflow's refusal) becomes
an `ApplicationError` whose `type` is the error's code, and the API turns it back into the same
error by that code. A business refusal (status below 500) is final; anything else is retried.
"""

from typing import Any, ClassVar

from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    by_code: ClassVar[dict[str, type["AppError"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            AppError.by_code[cls.code] = cls

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code  # type: ignore[misc]
        self.extra = extra


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Not authenticated"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidState(Conflict):
    code, title = "invalid_state", "Invalid state for this operation"


class RuleViolation(AppError):
    status, code, title = 422, "rule_violation", "Request breaks a business rule"


class PaymentRequired(AppError):
    status, code, title = 402, "insufficient_credits", "Not enough available credits"


class Unavailable(AppError):
    status, code, title = 503, "unavailable", "A dependency is unavailable"


def to_failure(error: AppError) -> ApplicationError:
    """The error as it crosses Temporal: its code as the type, final unless it is ours to retry."""
    return ApplicationError(
        error.detail, {"status": error.status}, type=error.code, non_retryable=error.status < 500
    )


def from_failure(failure: BaseException | None) -> AppError:
    """The error a failed activity, update or workflow stands for, found by its code.

    Failures that are not ours (a timeout, a crash) never show their text: it may hold internals.
    """
    while isinstance(failure, ActivityError | ChildWorkflowError):
        failure = failure.cause
    if isinstance(failure, ApplicationError) and failure.type:
        kind = AppError.by_code.get(failure.type)
        if kind is not None:
            return kind(failure.message)
        status = failure.details[0].get("status") if _has_status(failure) else None
        if isinstance(status, int) and status < 500:
            error = AppError(failure.message, code=failure.type)
            error.status = status  # type: ignore[misc]
            return error
    return Unavailable("The step could not be completed; try again")


def _has_status(failure: ApplicationError) -> bool:
    return bool(failure.details) and isinstance(failure.details[0], dict)
