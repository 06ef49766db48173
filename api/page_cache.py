"""Discovery's recent pages, each kept with the catalog version it was read at (ADR 0043)."""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from domain.listings.discovery import Search


@dataclass(frozen=True)
class Page:
    version: int
    found: dict[str, Any]  # the page as plain data (a `ListingList`'s fields): never changed
    body: bytes  # the same, serialized

    @property
    def total(self) -> int:
        return int(self.found["total"])


class PageCache:
    """The `size` most recently used pages, by the search they answer. A page is served again
    only at the version it was read at: any commit that changes the catalog moves the version
    (migration 0039), so a page served is the page the search would read now."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._pages: OrderedDict[Search, Page] = OrderedDict()

    def get(self, search: Search, version: int) -> Page | None:
        page = self._pages.get(search)
        if page is None or page.version != version:
            return None
        self._pages.move_to_end(search)
        return page

    def keeps(self, search: Search) -> bool:
        """Whether a page of `search` is kept: it depends on the catalog alone, not on the
        clock (`max_age_hours`), and the cache has room."""
        return self._size > 0 and search.max_age_hours is None

    def put(self, search: Search, page: Page) -> None:
        """Keep `page` unless it is older than the one kept (two searches racing a commit)."""
        if not self.keeps(search):
            return
        kept = self._pages.get(search)
        if kept is not None and kept.version > page.version:
            return
        self._pages[search] = page
        self._pages.move_to_end(search)
        if len(self._pages) > self._size:
            self._pages.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pages)
