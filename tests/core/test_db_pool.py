"""The PostgreSQL pool pings a connection only after it sat idle (core/db.py)."""

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from core import db


def _terminate(url: str, pid: int) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])  # waits for it to end


async def _backend(sessions: object) -> int:
    async with db.unit_of_work(sessions) as session:  # type: ignore[arg-type]
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def test_a_connection_dropped_while_idle_is_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(postgres_url, pool_size=1, max_overflow=0)
    sessions = db.session_factory(engine)
    try:
        dropped = await _backend(sessions)
        _terminate(postgres_url, dropped)
        monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # it has been idle long enough
        assert await _backend(sessions) != dropped
    finally:
        await engine.dispose()


async def test_a_busy_connection_is_not_pinged_and_its_loss_fails_one_unit(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the window the connection is used as is: the server dropping it fails that unit
    of work, as it fails one in flight, and the pool is renewed for the next."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
    engine = db.create_engine(postgres_url, pool_size=1, max_overflow=0)
    sessions = db.session_factory(engine)
    try:
        dropped = await _backend(sessions)
        _terminate(postgres_url, dropped)
        with pytest.raises(DBAPIError):
            await _backend(sessions)
        assert await _backend(sessions) != dropped
    finally:
        await engine.dispose()
