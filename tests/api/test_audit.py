"""Each audited action writes its entry with the action (a refused action writes none), and the
log is read the way operators and agents read it: GET /audit/events and /audit/events/verify."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.settings import Settings
from tests.api.helpers import assert_problem, register
from tests.api.redemption_helpers import creator_with, pending, settled
from tests.api.test_creators import CREATORS, PASSWORD, client_at, register_creator
from tests.conftest import bearer

AUDIT = "/api/v1/audit/events"
Sessions = async_sessionmaker[AsyncSession]


async def _entries(api: httpx.AsyncClient, headers: dict[str, str], **query: Any) -> list[Any]:
    response = await api.get(AUDIT, headers=headers, params={"page_size": 100, **query})
    assert response.status_code == 200, response.text
    results: list[Any] = response.json()["results"]
    return results


async def _about(api: httpx.AsyncClient, operator: str, party: str, **query: Any) -> list[Any]:
    """The entries (newest first) an operator sees where `party` is actor or subject."""
    return [
        e
        for e in await _entries(api, bearer(operator), **query)
        if party in (e["actor"], e["subject"])
    ]


async def _operator_id(api: httpx.AsyncClient, operator: str) -> str:
    return str((await api.get("/api/v1/operators/me", headers=bearer(operator))).json()["id"])


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    settings.creator_login_max_failures_per_email = 2
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_logins_failures_and_throttle_trips(app: FastAPI, operator_token: str) -> None:
    async with client_at(app) as api:
        me = await register_creator(api)
        creator = f"creator:{me['creator']['id']}"
        login = {"email": me["creator"]["email"], "password": PASSWORD}
        assert (await api.post(f"{CREATORS}/login", json=login)).status_code == 200
        wrong = {**login, "password": "wrong password"}
        for _ in range(2):
            assert_problem(await api.post(f"{CREATORS}/login", json=wrong), 401)
        assert_problem(await api.post(f"{CREATORS}/login", json=login), 429)
        entries = await _about(api, operator_token, creator)
    assert [e["event_type"] for e in entries] == [
        "login_throttled",
        "creator_login_failed",
        "creator_login_failed",
        "creator_login",
    ]
    throttled, failed, _, success = entries
    assert success["actor"] == creator and success["severity"] == "info"
    assert (failed["actor"], failed["subject"], failed["severity"]) == (None, creator, "warning")
    assert throttled["details"]["retry_after"] >= 1
    assert failed["details"]["client"].startswith("10.")
    assert me["creator"]["email"] not in str(entries)  # the email is kept as its hash only


async def test_claims_deactivations_and_who_reads_them(
    api: httpx.AsyncClient, operator_token: str
) -> None:
    me, agent, other = await register_creator(api), await register(api), await register(api)
    mine, theirs = f"agent:{agent['id']}", f"agent:{other['id']}"
    for claimed in (agent, other):
        proof = {**me["headers"], "X-Agent-Token": claimed["jwt_token"]}
        url = f"{CREATORS}/me/agents/{claimed['id']}/claim"
        assert (await api.post(url, headers=proof)).status_code == 200

    # An agent reads the entries it is party to, and only those.
    seen = await _entries(api, agent["headers"])
    assert [(e["event_type"], e["subject"]) for e in seen] == [("agent_claimed", mine)]
    assert seen[0]["actor"] == f"creator:{me['creator']['id']}"
    assert seen[0]["details"] == {"proof": "agent_token"}

    # A refused action writes nothing: another agent cannot deactivate this one.
    refused = await api.delete(f"/api/v1/agents/{agent['id']}", headers=other["headers"])
    assert_problem(refused, 403)
    gone = await api.delete(f"/api/v1/agents/{other['id']}", headers=other["headers"])
    assert gone.status_code in (200, 204), gone.text
    assert [e["event_type"] for e in await _about(api, operator_token, mine)] == ["agent_claimed"]
    deactivated = (await _about(api, operator_token, theirs, event_type="agent_deactivated"))[0]
    assert deactivated["actor"] == deactivated["subject"] == theirs

    # Who may read: operators and agents; never creators or strangers.
    assert_problem(await api.get(AUDIT, headers=me["headers"]), 403, "wrong_token_kind")
    assert_problem(await api.get(AUDIT), 401)
    assert_problem(await api.get(f"{AUDIT}/verify", headers=agent["headers"]), 403)
    assert_problem(await api.get(AUDIT, headers=agent["headers"], params={"severity": "x"}), 422)


async def test_filters_pages_and_verification(api: httpx.AsyncClient, operator_token: str) -> None:
    operator = await _operator_id(api, operator_token)
    created = await _about(api, operator_token, f"operator:{operator}")
    assert [(e["event_type"], e["actor"], e["severity"]) for e in created] == [
        ("operator_created", "cli", "warning")
    ]
    warnings = await _entries(api, bearer(operator_token), severity="warning")
    assert warnings and {e["severity"] for e in warnings} == {"warning"}
    page = await api.get(AUDIT, headers=bearer(operator_token), params={"page_size": 1})
    body = page.json()
    assert (body["page"], body["page_size"], len(body["results"])) == (1, 1, 1)
    assert body["total"] >= 1
    [newest] = body["results"]
    verified = await api.get(f"{AUDIT}/verify", headers=bearer(operator_token))
    assert verified.json() == {"valid": True, "entries_checked": newest["sequence"]}


async def test_operator_decisions_carry_the_operator(
    live: httpx.AsyncClient, sessions: Sessions, operator_token: str
) -> None:
    """Deposit confirmation, redemption approval and rejection: the operator travels in the
    workflow update to the activity, which writes the entry in the step's transaction."""
    operator = f"operator:{await _operator_id(live, operator_token)}"
    agent = await register(live)
    deposit = await live.post(
        "/api/v1/wallet/deposit",
        headers=agent["headers"],
        json={"amount_fiat": "1.00", "currency": "USD"},
    )
    confirm = f"/api/v1/wallet/deposit/{deposit.json()['id']}/confirm"
    for _ in range(2):  # the second confirmation changes nothing and writes nothing
        assert (await live.post(confirm, headers=bearer(operator_token))).status_code == 200
    [confirmed] = await _about(live, operator_token, operator, event_type="deposit_confirmed")
    assert confirmed["subject"] == f"agent:{agent['id']}"
    assert confirmed["details"]["amount_ard"] == "1000.000"
    assert confirmed["details"]["deposit_id"] == deposit.json()["id"]

    creator = await creator_with(live, sessions, 20_000)
    approved, rejected = await pending(live, creator), await pending(live, creator)
    admin = "/api/v1/redemptions/admin"
    answer = await live.post(f"{admin}/{approved}/approve", headers=bearer(operator_token))
    assert answer.status_code == 200, answer.text
    reason = {"reason": "documents missing"}
    answer = await live.post(
        f"{admin}/{rejected}/reject", headers=bearer(operator_token), json=reason
    )
    assert answer.status_code == 200, answer.text
    assert (await settled(live, creator, approved))["status"] == "completed"
    decisions = await _about(live, operator_token, operator)
    by_redemption = {e["details"].get("redemption_id"): e for e in decisions}
    assert by_redemption[approved]["event_type"] == "redemption_approved"
    assert by_redemption[rejected]["event_type"] == "redemption_rejected"
    assert by_redemption[rejected]["details"]["reason"] == "documents missing"
    assert by_redemption[approved]["subject"] == f"creator:{creator['id']}"
    assert by_redemption[approved]["details"]["amount_ard"] == "5000.000"
    # A second decision is refused and writes nothing.
    again = await live.post(f"{admin}/{approved}/approve", headers=bearer(operator_token))
    assert_problem(again, 409, "invalid_state")
    assert len(await _about(live, operator_token, operator)) == len(decisions)
