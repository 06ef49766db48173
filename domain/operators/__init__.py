"""Operators run the marketplace; they are created from the command line only."""

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
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


async def get_active(session: AsyncSession, operator_id: uuid.UUID) -> Operator | None:
    operator = await session.get(Operator, operator_id)
    return operator if operator is not None and operator.active else None


async def get(session: AsyncSession, operator_id: uuid.UUID) -> Operator:
    operator = await session.get(Operator, operator_id)
    if operator is None:
        raise NotFound("Operator not found")
    return operator
