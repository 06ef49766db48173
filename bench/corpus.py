"""The listings the discovery benchmarks search: Zipf-distributed words over a 5,000-word
vocabulary, seeded straight into the tables (COPY on PostgreSQL, Core inserts on SQLite).

    sellers = seed(url, 100_000)   # after `migrate(url)`; answers the sellers' ids
"""

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy import create_engine, insert

from bench.ledger import libpq
from models.agents import RegisteredAgent
from models.listings import DataListing

SELLERS = 100
WORDS = [
    "python",
    "asyncio",
    "rust",
    "tokio",
    "golang",
    "kubernetes",
    "docker",
    "postgres",
    "redis",
    "kafka",
    "search",
    "summary",
    "benchmark",
    "latency",
    "pricing",
    "weather",
    "finance",
    "crypto",
    "news",
    "sports",
    "medicine",
    "law",
    "contracts",
    "invoice",
    "translation",
    "japanese",
    "french",
    "german",
    "spanish",
    "legal",
    "audit",
    "security",
    "vulnerability",
    "dependency",
    "license",
    "report",
    "analysis",
    "dataset",
    "embeddings",
    "vector",
    "sql",
    "graphql",
    "rest",
    "api",
    "serverless",
    "lambda",
    "cache",
    "cdn",
    "index",
    "ranking",
    "recommendation",
    "sentiment",
    "forecast",
    "climate",
    "energy",
]
# Real text is Zipf-distributed over a large vocabulary: 5,000 words, the named ones spread over
# the ranks: "python" is rank 20, "asyncio" 100, "kubernetes" 420.
VOCABULARY = [f"w{i}" for i in range(5_000)]
for rank, word in zip(range(20, 5_000, 80), WORDS, strict=False):
    VOCABULARY[rank] = word
ZIPF_WEIGHTS = [1 / (rank + 1) for rank in range(len(VOCABULARY))]
CATEGORIES = ("web_search", "code_analysis", "document_summary", "api_response", "computation")
SELLER_NAME = "bench-seller-0"


def _rows(count: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """(seller index, title, description, category, price, tags, quality, freshness)."""
    rng = random.Random(7)
    for _ in range(count):
        title = " ".join(rng.choices(VOCABULARY, ZIPF_WEIGHTS, k=4))
        description = " ".join(rng.choices(VOCABULARY, ZIPF_WEIGHTS, k=12))
        tags = rng.choices(VOCABULARY, ZIPF_WEIGHTS, k=3)
        fresh = now - timedelta(hours=rng.randint(0, 24 * 30))
        seller = rng.randrange(SELLERS)
        yield (
            seller,
            title,
            description,
            rng.choice(CATEGORIES),
            rng.randint(1_000, 900_000),
            tags,
            Decimal(rng.randint(0, 1000)) / 1000,
            fresh,
        )


def insert_agent(
    conn: psycopg.Connection[Any], agent: uuid.UUID, name: str, kind: str, now: datetime
) -> None:
    """An active agent row, straight into PostgreSQL."""
    conn.execute(
        "INSERT INTO registered_agents (id, name, description, agent_type, public_key, "
        "wallet_address, capabilities, a2a_endpoint, status, created_at, updated_at) "
        "VALUES (%s, %s, '', %s, '', '', '[]', '', 'active', %s, %s)",
        (agent, name, kind, now, now),
    )


def _postgresql(url: str, count: int, sellers: list[uuid.UUID]) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(libpq(url)) as conn:
        for n, seller in enumerate(sellers):
            insert_agent(conn, seller, f"bench-seller-{n}", "seller", now)
        with conn.cursor().copy(
            "COPY data_listings (id, seller_id, title, description, category, content_hash, "
            "content_size, content_type, price_units, currency, metadata, tags, quality_score, "
            "freshness_at, status, access_count, search_text, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i, (s, title, desc, cat, price, tags, quality, fresh) in enumerate(
                _rows(count, now)
            ):
                copy.write_row(
                    (
                        uuid.uuid4(),
                        sellers[s],
                        title,
                        desc,
                        cat,
                        "sha256:" + f"{i:064x}",
                        1024,
                        "text/plain",
                        price,
                        "USDC",
                        "{}",
                        json.dumps(tags),
                        quality,
                        fresh,
                        "active",
                        0,
                        " ".join([title, desc, *tags]),
                        fresh,
                        fresh,
                    )
                )
    # What autovacuum does soon after such a load in production (the server these benches run
    # on has it off): the visibility map lets a capped count be answered from an index alone.
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) data_listings, registered_agents")


def _sqlite(url: str, count: int, sellers: list[uuid.UUID]) -> None:
    """Through SQLAlchemy Core, so every value is stored the way the application stores it."""
    now = datetime.now(UTC)
    engine = create_engine(url.replace("+aiosqlite", ""))
    with engine.begin() as conn:
        conn.execute(
            insert(RegisteredAgent),
            [
                {"id": seller, "name": f"bench-seller-{n}", "agent_type": "seller"}
                for n, seller in enumerate(sellers)
            ],
        )
        batch: list[dict[str, Any]] = []
        for i, (s, title, desc, cat, price, tags, quality, fresh) in enumerate(_rows(count, now)):
            batch.append(
                {
                    "id": uuid.uuid4(),
                    "seller_id": sellers[s],
                    "title": title,
                    "description": desc,
                    "category": cat,
                    "content_hash": "sha256:" + f"{i:064x}",
                    "content_size": 1024,
                    "content_type": "text/plain",
                    "price_units": price,
                    "details": {},
                    "tags": tags,
                    "quality_score": quality,
                    "freshness_at": fresh,
                    "search_text": " ".join([title, desc, *tags]),
                    "created_at": fresh,
                    "updated_at": fresh,
                }
            )
            if len(batch) == 5_000:
                conn.execute(insert(DataListing), batch)
                batch = []
        if batch:
            conn.execute(insert(DataListing), batch)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def seed(url: str, count: int) -> list[uuid.UUID]:
    """`count` listings of SELLERS sellers; the sellers' ids (the first is SELLER_NAME)."""
    sellers = [uuid.uuid4() for _ in range(SELLERS)]
    (_postgresql if url.startswith("postgresql") else _sqlite)(url, count, sellers)
    return sellers
