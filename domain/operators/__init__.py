"""Operators run the marketplace; they are created from the command line only."""

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.queries import fetch
from core.security import TokenKind
from domain import audit
from models.operators import Operator


async def create(session: AsyncSession, name: str) -> Operator:
    operator = Operator(name=name)
    try:
        async with session.begin_nested():
            session.add(operator)
    except IntegrityError:
        raise Conflict(f"An operator named {name!r} already exists") from None
    await audit.record(
        session,
        audit.AuditEvent.OPERATOR_CREATED,
        actor=audit.CLI,
        subject=audit.party(TokenKind.OPERATOR, operator.id),
        details={"name": name},
    )
    return operator


_active = select(Operator.id).where(Operator.id == bindparam("id"), Operator.active.is_(True))


async def is_active(session: AsyncSession, operator_id: uuid.UUID) -> bool:
    return bool(await fetch(session, _active, {"id": operator_id}, keyed=True))


async def get(session: AsyncSession, operator_id: uuid.UUID) -> Operator:
    operator = await session.get(Operator, operator_id)
    if operator is None:
        raise NotFound("Operator not found")
    return operator
