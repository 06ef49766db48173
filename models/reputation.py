import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from models.base import Base
from models.ledger import Units


class AgentStats(Base):
    """Each agent's trading record and the composite score it yields, kept by the purchase
    workflow as purchases close (never recomputed on read)."""

    __tablename__ = "agent_stats"

    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registered_agents.id"), primary_key=True
    )
    sales_paid: Mapped[int] = mapped_column(default=0)
    sales_delivered: Mapped[int] = mapped_column(default=0)
    sales_completed: Mapped[int] = mapped_column(default=0)
    sales_disputed: Mapped[int] = mapped_column(default=0)
    purchases: Mapped[int] = mapped_column(default=0)
    delivery_ms_total: Mapped[int] = mapped_column(Units, default=0)
    volume_units: Mapped[int] = mapped_column(Units, default=0)
    composite: Mapped[Decimal] = mapped_column(Numeric(4, 3), default=Decimal("0.500"), index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
