"""Operators run the marketplace; `python -m worker.cli create-operator NAME` creates one."""

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from api.deps import OperatorId, Session
from api.routes import API_PREFIX
from domain import operators

router = APIRouter(prefix=f"{API_PREFIX}/operators", tags=["operators"])


class OperatorResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    active: bool
    created_at: datetime


@router.get("/me", response_model=OperatorResponse)
async def me(operator: OperatorId, session: Session) -> OperatorResponse:
    return OperatorResponse.model_validate(await operators.get(session, operator))
