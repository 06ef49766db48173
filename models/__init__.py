"""ORM tables, one module per aggregate. Importing this package registers every table."""

from models.agents import RegisteredAgent
from models.base import Base
from models.events import Event
from models.idempotency import IdempotencyKey
from models.operators import Operator

__all__ = ["Base", "Event", "IdempotencyKey", "Operator", "RegisteredAgent"]
