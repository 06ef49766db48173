"""A subscription's glob patterns: the LIKE pattern the database narrows with never drops an
entry the glob matches (checked against `fnmatchcase` on both databases)."""

from fnmatch import fnmatchcase

import pytest
from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.catalog.subscriptions import like_of

CASES = [
    ("web_search.*", ["web_search.python", "web_search.", "websearch.python", "web-search.x"]),
    ("*asyncio*", ["asyncio", "python asyncio guides", "async io"]),
    ("a?c", ["abc", "a_c", "ac", "abbc"]),
    ("100%_done", ["100%_done", "100x_done", "100%xdone"]),
    ("back\\slash*", ["back\\slash", "back\\slashes", "backslash"]),
    ("*", ["", "anything"]),
    ("[ab]*", ["apple", "cherry"]),  # a class: no LIKE pattern, Python decides
]


@pytest.mark.parametrize(("pattern", "values"), CASES)
async def test_like_agrees_with_the_glob(
    sessions: async_sessionmaker[AsyncSession], pattern: str, values: list[str]
) -> None:
    like = like_of(pattern)
    if "[" in pattern:
        assert like is None
        return
    assert like is not None
    async with sessions() as session:
        for value in values:
            found = await session.scalar(select(literal(value).like(like, escape="\\")))
            # LIKE may let more through (SQLite ignores ASCII case), never fewer.
            if fnmatchcase(value, pattern):
                assert found, (pattern, value)
            elif value.lower() == value:
                assert not found, (pattern, value)
