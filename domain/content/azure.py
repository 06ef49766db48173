"""Content-addressed storage in an Azure Blob Storage container.

A blob's name is the bare 64-hex digest of its content. Keys are validated by `digest_of`
before any blob name is built, exactly as HashFS does before building a path.
"""

import contextlib
import uuid
from types import TracebackType
from typing import Self

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.core.pipeline.transport import AsyncHttpTransport, AsyncioRequestsTransport
from azure.storage.blob.aio import BlobClient, BlobServiceClient, ContainerClient

from domain.content.store import ContentMissing, content_key, digest_of

_HEALTH_PREFIX = ".health/"  # never a valid digest, so a probe cannot collide with content


class AzureBlobStore:
    """Blobs named `<digest>` in one container, which is created on first write if missing."""

    name = "azure_blob"

    def __init__(
        self,
        connection_string: str,
        container: str,
        *,
        retry_total: int = 3,
        transport: AsyncHttpTransport | None = None,
    ) -> None:
        # aiohttp, the SDK's default async transport, is not a dependency of this project;
        # the requests-based transport ships with azure-core itself.
        self._service = BlobServiceClient.from_connection_string(
            connection_string,
            retry_total=retry_total,
            transport=transport or AsyncioRequestsTransport(),
        )
        self._container: ContainerClient = self._service.get_container_client(container)
        self._container_ready = False

    async def _ensure_container(self) -> None:
        if self._container_ready:
            return
        with contextlib.suppress(ResourceExistsError):
            await self._container.create_container()
        self._container_ready = True

    async def put(self, data: bytes) -> str:
        key = content_key(data)
        blob = self._container.get_blob_client(digest_of(key))
        await self._ensure_container()
        try:
            await _upload_if_absent(blob, data)
        except ResourceNotFoundError:
            # The container was deleted behind our back; recreate it once.
            self._container_ready = False
            await self._ensure_container()
            await _upload_if_absent(blob, data)
        return key

    async def get(self, key: str) -> bytes:
        blob = self._container.get_blob_client(digest_of(key))
        try:
            download = await blob.download_blob()
            return await download.readall()
        except ResourceNotFoundError:
            raise ContentMissing(f"No content stored under {key}") from None

    async def exists(self, key: str) -> bool:
        blob = self._container.get_blob_client(digest_of(key))
        return await blob.exists()

    async def check(self) -> None:
        """Raise if a blob cannot be written to and deleted from the container."""
        await self._ensure_container()
        probe = self._container.get_blob_client(f"{_HEALTH_PREFIX}{uuid.uuid4().hex}")
        await probe.upload_blob(b"", overwrite=True)
        await probe.delete_blob()

    async def close(self) -> None:
        await self._container.close()
        await self._service.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def _upload_if_absent(blob: BlobClient, data: bytes) -> None:
    # An existing blob has this very name, hence these very bytes: nothing to do.
    with contextlib.suppress(ResourceExistsError):
        await blob.upload_blob(data, overwrite=False)
