"""What one API process holds for its lifetime, built in the lifespan and torn down after."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.feed import Feed
from api.page_cache import PageCache
from core.rate_limits import Limiter
from core.settings import Settings
from domain.content.cdn import ContentDelivery
from domain.content.store import ContentStore
from domain.wallet.transfers import Transfers


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
