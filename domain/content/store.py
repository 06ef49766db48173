"""Content-addressed storage: bytes in, `sha256:<64 hex>` out.

Keys are validated before any path or blob name is built from them, so a hostile key never
reaches the file system.
"""

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from core.errors import NotFound, RuleViolation

_KEY = re.compile(r"sha256:([0-9a-f]{64})")


class InvalidContentKey(RuleViolation):
    code = "invalid_content_hash"


class ContentMissing(NotFound):
    code = "content_not_found"


def content_key(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_of(key: str) -> str:
    """The hex digest of a well-formed key; anything else is refused."""
    match = _KEY.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise InvalidContentKey("content hashes look like sha256:<64 lowercase hex>")
    return match.group(1)


class ContentStore(Protocol):
    name: str

    async def put(self, data: bytes) -> str: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def check(self) -> None:
        """Raise if the store cannot be written to."""


class HashFS:
    """Files under `root/ab/cd/<digest>`, written atomically (temp file + rename)."""

    name = "hashfs"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        digest = digest_of(key)
        return self.root / digest[:2] / digest[2:4] / digest

    async def put(self, data: bytes) -> str:
        key = content_key(data)
        await asyncio.to_thread(self._write, self._path(key), data)
        return key

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ContentMissing(f"No content stored under {key}") from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".health-"):
                pass

        await asyncio.to_thread(probe)


def open_store(
    content_store_path: str, azure_connection_string: str = "", azure_container: str = ""
) -> ContentStore:
    """Azure Blob when a connection string is configured, else HashFS on local disk."""
    if azure_connection_string:
        from domain.content.azure import AzureBlobStore

        return AzureBlobStore(azure_connection_string, azure_container)
    return HashFS(content_store_path)
