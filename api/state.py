"""What one API process holds for its lifetime, built in the lifespan and torn down after."""

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.feed import Feed
from api.page_cache import PageCache
from core.handover import Handover
from core.rate_limits import Limiter
from core.settings import Settings
from domain.content.cdn import ContentDelivery
from domain.content.store import ContentStore
from domain.wallet.transfers import Transfers
from workflows.contracts.purchase import PurchaseState


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    content: ContentStore
    delivery: ContentDelivery
    temporal: Client
    limiter: Limiter
    feed: Feed
    transfers: Transfers
    pages: PageCache
    # Express purchases whose step runs in this process answer from it (ADR 0044).
    express_answers: Handover[uuid.UUID, PurchaseState] = field(default_factory=Handover)
