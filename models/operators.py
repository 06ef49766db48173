from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamps, UUIDKey


class Operator(UUIDKey, Timestamps, Base):
    """A person who runs the marketplace; created from the command line, never over HTTP."""

    __tablename__ = "operators"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
