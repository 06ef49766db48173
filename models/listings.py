"""Listings (cached computation results for sale), their quality proofs, the catalog's version,
and search signals."""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from models.base import Base, Timestamps, UUIDKey, one_of
from models.ledger import Units


class ListingStatus(StrEnum):
    ACTIVE = "active"  # for sale
    PAUSED = "paused"  # hidden by its seller, may return
    DELISTED = "delisted"  # withdrawn for good


CATEGORIES = ("web_search", "code_analysis", "document_summary", "api_response", "computation")


class DataListing(UUIDKey, Timestamps, Base):
    __tablename__ = "data_listings"
    __table_args__ = (
        CheckConstraint(
            "category IN ('web_search', 'code_analysis', 'document_summary', 'api_response', "
            "'computation')",
            name="category",
        ),
        CheckConstraint(f"status IN {one_of(ListingStatus)}", name="status"),
        CheckConstraint("price_units > 0 AND price_units <= 1000000000", name="price_range"),
        CheckConstraint("quality_score >= 0 AND quality_score <= 1", name="quality_range"),
        Index("ix_data_listings_status_category", "status", "category"),
        Index("ix_data_listings_status_price", "status", "price_units"),
        Index("ix_data_listings_status_freshness", "status", "freshness_at"),
        Index("ix_data_listings_status_quality", "status", "quality_score"),
        Index("ix_data_listings_seller", "seller_id", "status"),
        # A category's or a seller's listings in each sort order (discovery, ADR 0016).
        Index("ix_data_listings_category_price", "status", "category", "price_units"),
        Index("ix_data_listings_category_freshness", "status", "category", "freshness_at"),
        Index("ix_data_listings_category_quality", "status", "category", "quality_score"),
        Index("ix_data_listings_seller_price", "seller_id", "status", "price_units"),
        Index("ix_data_listings_seller_freshness", "seller_id", "status", "freshness_at"),
        Index("ix_data_listings_seller_quality", "seller_id", "status", "quality_score"),
    )

    seller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registered_agents.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(71))
    content_size: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(100))
    price_units: Mapped[int] = mapped_column(Units)
    currency: Mapped[str] = mapped_column(String(8), default="USDC")
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    quality_score: Mapped[Decimal] = mapped_column(Numeric(4, 3))
    freshness_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(10), default=ListingStatus.ACTIVE)
    access_count: Mapped[int] = mapped_column(default=0)
    # title, description and tags as one text: the full-text index reads it
    # (PostgreSQL: GIN over to_tsvector; SQLite: the listings_fts FTS5 table, kept by triggers).
    search_text: Mapped[str] = mapped_column(Text, default="")


class QualityProof(UUIDKey, Base):
    __tablename__ = "zk_proofs"

    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_listings.id"), index=True)
    proof_type: Mapped[str] = mapped_column(String(20))
    commitment: Mapped[str] = mapped_column(String(600))
    public_inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogVersion(Base):
    """One row: how many times what discovery shows has changed. Triggers on `data_listings` and
    on sellers' names count every change, in the writer's own transaction (migration 0039), so
    a page read at a version is that version's page until the next commit (ADR 0043)."""

    __tablename__ = "catalog_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class SearchSignal(UUIDKey, Base):
    """One search (discover, auto-match, express): the raw material of demand aggregation.
    `converted_at` is when a purchase followed it (`led_to_purchase`)."""

    __tablename__ = "search_signals"
    __table_args__ = (
        Index("ix_search_signals_requester_created", "requester", "created_at"),
        Index("ix_search_signals_created_id", "created_at", "id"),
    )

    query: Mapped[str] = mapped_column(String(500), default="")
    pattern: Mapped[str] = mapped_column(String(500), default="", index=True)
    category: Mapped[str | None] = mapped_column(String(32))
    requester: Mapped[str] = mapped_column(String(80))
    matched_count: Mapped[int] = mapped_column(default=0)
    led_to_purchase: Mapped[bool] = mapped_column(default=False)
    max_price_units: Mapped[int | None] = mapped_column(Units)
    source: Mapped[str] = mapped_column(String(20), default="discover")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    converted_at: Mapped[datetime | None] = mapped_column(index=True)
