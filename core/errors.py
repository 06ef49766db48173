"""Errors that carry their HTTP status and a stable code; rendered as RFC 9457 problem+json."""

from typing import Any, ClassVar


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

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
