import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from api.schemas.common import Page


class AuditEntryResponse(BaseModel):
    id: uuid.UUID
    sequence: int
    event_type: str
    severity: str
    actor: str | None  # `kind:id` (`operator:…`, `agent:…`), `system`, `cli`, or none
    subject: str | None
    details: dict[str, Any]  # money as decimal strings, as everywhere
    created_at: datetime
    prev_hash: str
    hash: str


class AuditEntries(Page):
    results: list[AuditEntryResponse]
