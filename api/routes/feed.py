"""`/ws/feed`: the live feed over WebSocket (api.md "Live feed"; api/feed.py, ADR 0021).

    ws://host/ws/feed?token=<jwt>[&since=<event id>][&types=listing_created,token_transfer]

The token comes in the `Authorization: Bearer` header or as `?token=`, and is held to the REST
rules: the connection closes with 4001 without one and 4003 when it is invalid, expired, or
names a deactivated agent or unknown creator. Messages are `{id, type, timestamp, data}`.
"""

from fastapi import APIRouter, WebSocket

from api.deps import authenticate
from api.feed import INVALID_TOKEN, MISSING_TOKEN, Viewer
from api.state import AppState
from core.errors import Unauthorized

router = APIRouter(tags=["live feed"])


def _token(websocket: WebSocket, query_token: str | None) -> str | None:
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return query_token or None


@router.websocket("/ws/feed")
async def feed(
    websocket: WebSocket,
    token: str | None = None,
    since: str | None = None,
    types: str | None = None,
) -> None:
    state: AppState = websocket.app.state.services
    await websocket.accept()  # close codes reach the client only on an accepted connection
    credentials = _token(websocket, token)
    if credentials is None:
        await websocket.close(MISSING_TOKEN, "a token is required")
        return
    try:
        principal = await authenticate(state, credentials)
    except Unauthorized as refusal:
        await websocket.close(INVALID_TOKEN, refusal.detail)
        return
    wanted = frozenset(t.strip() for t in types.split(",") if t.strip()) if types else None
    viewer = Viewer(principal.kind, str(principal.id))
    await state.feed.stream(websocket, viewer, since, wanted, principal.expires_at)
