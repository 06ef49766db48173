import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Page, Request, label, text
from api.schemas.money import ArdOut

AgentType = Literal["seller", "buyer", "both"]
Capability = Annotated[str, label(64)]
Capabilities = Annotated[list[Capability], Field(max_length=50)]
Endpoint = Annotated[str, text(500, pattern=r"^(https?://[^\x00-\x20\x7f]+)?$")]
"""An http(s) URL, or empty."""
Description = Annotated[str, text(2000)]
WalletAddress = Annotated[str, text(128)]


class AgentRegister(Request):
    name: Annotated[str, label(100)]
    description: Description = ""
    agent_type: AgentType
    public_key: Annotated[str, text(10_000)] = ""
    wallet_address: WalletAddress = ""
    capabilities: Capabilities = []
    a2a_endpoint: Endpoint = ""


class AgentUpdate(Request):
    description: Description | None = None
    wallet_address: WalletAddress | None = None
    capabilities: Capabilities | None = None
    a2a_endpoint: Endpoint | None = None


class AgentRegistered(BaseModel):
    id: uuid.UUID
    name: str
    jwt_token: str
    agent_card_url: str
    created_at: datetime
    signup_bonus_ard: ArdOut


class AgentResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    agent_type: AgentType
    public_key: str
    wallet_address: str
    capabilities: list[str]
    a2a_endpoint: str
    status: str
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None


class AgentList(Page):
    agents: list[AgentResponse]


class Heartbeat(BaseModel):
    status: Literal["ok"] = "ok"
    last_seen_at: datetime


class AgentCard(BaseModel):
    """An A2A agent card."""

    name: str
    description: str
    url: str
    version: str = "1.0.0"
    provider: dict[str, str] = {"organization": "AgentChains"}
    capabilities: dict[str, Any]
    skills: list[dict[str, Any]]
    defaultInputModes: list[str] = ["application/json"]
    defaultOutputModes: list[str] = ["application/json"]
