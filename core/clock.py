from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC; the only clock the code reads outside workflows."""
    return datetime.now(UTC)
