"""Discovery's recent pages, each kept with the catalog version it was read at (ADR 0043)."""

from collections import OrderedDict
from dataclasses import dataclass

from domain.listings.discovery import Search


@dataclass(frozen=True)
class Page:
    total: int  # for the demand signal
    body: bytes  # the response, serialized


class PageCache:
    """The most recently used pages, by the search they answer, up to `capacity` bytes of
    bodies. A page is served again only at the version it was read at: any commit that changes
    the catalog moves the version (migration 0039), so a page served is the page the search
    would read now."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._size = 0
        self._pages: OrderedDict[Search, tuple[int, Page]] = OrderedDict()

    def get(self, search: Search, version: int) -> Page | None:
        kept = self._pages.get(search)
        if kept is None or kept[0] != version:
            return None
        self._pages.move_to_end(search)
        return kept[1]

    def keeps(self, search: Search) -> bool:
        """Whether a page of `search` is kept: it depends on the catalog alone, not on the
        clock (`max_age_hours`), and the cache is on."""
        return self._capacity > 0 and search.max_age_hours is None

    def put(self, search: Search, version: int, page: Page) -> None:
        """Keep `page`, read at `version`, unless the page kept is newer (two searches racing a
        commit); the least recently used go first to make room."""
        if not self.keeps(search) or len(page.body) > self._capacity:
            return
        kept = self._pages.pop(search, None)
        if kept is not None:
            self._size -= len(kept[1].body)
            if kept[0] > version:
                version, page = kept
        self._pages[search] = version, page
        self._size += len(page.body)
        while self._size > self._capacity:
            _, (_, dropped) = self._pages.popitem(last=False)
            self._size -= len(dropped.body)

    @property
    def size(self) -> int:
        """Bytes of the bodies kept."""
        return self._size

    def __len__(self) -> int:
        return len(self._pages)
