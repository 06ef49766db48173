"""Creators through the API: accounts, login throttling, earnings (claims: test_creator_claims)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.db import unit_of_work
from core.security import TokenKind
from core.settings import Settings
from domain import creators, ledger
from tests.api.helpers import assert_problem, register, unique
from tests.conftest import bearer, token

CREATORS = "/api/v1/creators"
PASSWORD = "correct horse battery staple"
Sessions = async_sessionmaker[AsyncSession]


async def register_creator(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"email": f"{unique('creator')}@example.com", "password": PASSWORD, **fields}
    body.setdefault("display_name", "Alice")
    response = await api.post(f"{CREATORS}/register", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    data["headers"] = bearer(data["token"])
    data["password"] = body["password"]
    return data


def _login(api: httpx.AsyncClient, email: str, password: str) -> Any:
    return api.post(f"{CREATORS}/login", json={"email": email, "password": password})


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def client_at(app: FastAPI, address: str | None = None) -> httpx.AsyncClient:
    """A client calling from its own address, so throttle counts of other tests do not mix in."""
    address = address or f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://agentchains.test")


# Accounts


async def test_register_login_me_and_update(api: httpx.AsyncClient) -> None:
    email = f"{unique('Mixed')}@Example.COM"
    created = await register_creator(
        api, email=f"  {email} ", display_name="Alice", phone="+91 98765 43210", country="in"
    )
    profile = created["creator"]
    assert profile["email"] == email.lower()
    assert profile["country"] == "IN" and profile["phone"] == "+91 98765 43210"
    assert profile["payout_method"] is None and profile["payout_details"] == {}
    assert profile["status"] == "active"
    assert "password" not in str(profile) and "hash" not in str(profile)

    me = await api.get(f"{CREATORS}/me", headers=created["headers"])
    assert me.status_code == 200 and me.json()["id"] == profile["id"]

    logged_in = await _login(api, email.upper(), PASSWORD)
    assert logged_in.status_code == 200, logged_in.text
    assert logged_in.json()["creator"]["id"] == profile["id"]
    fresh = bearer(logged_in.json()["token"])

    changed = await api.put(
        f"{CREATORS}/me",
        headers=fresh,
        json={
            "display_name": "Alice B",
            "payout_method": "upi",
            "payout_details": {"upi_id": "alice@okbank"},
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["display_name"] == "Alice B"
    assert body["payout_method"] == "upi"
    assert body["payout_details"] == {"upi_id": "alice@okbank"}
    assert body["country"] == "IN"  # untouched

    switched = await api.put(f"{CREATORS}/me", headers=fresh, json={"payout_method": "api_credits"})
    assert switched.json()["payout_details"] == {}  # a new method starts with its own details
    cleared = await api.put(f"{CREATORS}/me", headers=fresh, json={"payout_method": None})
    assert cleared.json()["payout_method"] is None
    reread = (await api.get(f"{CREATORS}/me", headers=fresh)).json()
    assert reread["display_name"] == "Alice B" and reread["payout_method"] is None

    wallet = (await api.get(f"{CREATORS}/me/wallet", headers=fresh)).json()
    assert wallet["balance"] == "0.000" and wallet["available"] == "0.000"


async def test_duplicate_email_is_409_whatever_the_case(api: httpx.AsyncClient) -> None:
    first = await register_creator(api)
    again = await api.post(
        f"{CREATORS}/register",
        json={
            "email": first["creator"]["email"].upper(),
            "password": PASSWORD,
            "display_name": "B",
        },
    )
    assert_problem(again, 409, "email_taken")


@pytest.mark.parametrize(
    "changes",
    [
        {"email": "nobody"},
        {"email": "a@b"},
        {"password": "short"},
        {"password": "p" * 129},
        {"display_name": ""},
        {"display_name": "bad\x00name"},
        {"country": "XX"},
        {"country": "IND"},
        {"phone": "call me"},
        {"payout_method": "upi"},
        {"status": "suspended"},
    ],
)
async def test_bad_registrations_are_422(api: httpx.AsyncClient, changes: dict[str, Any]) -> None:
    body = {"email": f"{unique()}@example.com", "password": PASSWORD, "display_name": "A"}
    response = await api.post(f"{CREATORS}/register", json={**body, **changes})
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"payout_method": "upi"}, "invalid_payout_details"),
        ({"payout_method": "upi", "payout_details": {"upi_id": "no-at-sign"}}, None),
        (
            {"payout_method": "bank_withdrawal", "payout_details": {"account_number": "12345678"}},
            None,
        ),
        ({"payout_method": "api_credits", "payout_details": {"upi_id": "a@bank"}}, None),
        ({"payout_details": {"upi_id": "a@bank"}}, "invalid_payout_details"),
        ({"payout_method": "paypal"}, "validation_error"),
        ({"display_name": None}, "validation_error"),
        ({"country": "ZZ"}, "validation_error"),
        ({"email": "new@example.com"}, "validation_error"),
    ],
)
async def test_bad_profile_changes_are_422_and_change_nothing(
    api: httpx.AsyncClient, changes: dict[str, Any], code: str | None
) -> None:
    me = await register_creator(api)
    response = await api.put(f"{CREATORS}/me", headers=me["headers"], json=changes)
    assert_problem(response, 422, code)
    assert (await api.get(f"{CREATORS}/me", headers=me["headers"])).json() == me["creator"]


async def test_bank_details_are_accepted_when_complete(api: httpx.AsyncClient) -> None:
    me = await register_creator(api)
    details = {"account_holder_name": "A B", "account_number": "123456789", "ifsc": "HDFC0001234"}
    response = await api.put(
        f"{CREATORS}/me",
        headers=me["headers"],
        json={"payout_method": "bank_withdrawal", "payout_details": details},
    )
    assert response.status_code == 200, response.text
    assert response.json()["payout_details"] == details


async def test_every_password_character_counts(api: httpx.AsyncClient) -> None:
    """bcrypt alone reads 72 bytes; the pre-hash makes a different tail a different password."""
    password = "é" * 40 + "tail-one"  # 88 bytes in UTF-8
    me = await register_creator(api, password=password)
    email = me["creator"]["email"]
    wrong_tail = await _login(api, email, "é" * 40 + "tail-two")
    assert_problem(wrong_tail, 401, "invalid_credentials")
    assert (await _login(api, email, password)).status_code == 200
    padded = await _login(api, email, f" {password} ")  # passwords are never stripped
    assert_problem(padded, 401, "invalid_credentials")


async def test_unknown_email_and_wrong_password_answer_the_same(api: httpx.AsyncClient) -> None:
    me = await register_creator(api)
    wrong = assert_problem(await _login(api, me["creator"]["email"], "wrong password"), 401)
    unknown = assert_problem(await _login(api, "nobody@example.com", PASSWORD), 401)
    assert wrong.pop("request_id") != unknown.pop("request_id")  # only the request ids differ
    assert wrong == unknown
    assert wrong["code"] == "invalid_credentials"


async def test_token_kinds_on_creator_routes(api: httpx.AsyncClient) -> None:
    me = await register_creator(api)
    agent = await register(api)
    assert_problem(
        await api.get(f"{CREATORS}/me", headers=agent["headers"]), 403, "wrong_token_kind"
    )
    assert_problem(
        await api.get(f"{CREATORS}/me/wallet", headers=agent["headers"]), 403, "wrong_token_kind"
    )
    as_creator = await api.post(f"/api/v1/agents/{agent['id']}/heartbeat", headers=me["headers"])
    assert_problem(as_creator, 403, "wrong_token_kind")
    assert_problem(await api.get(f"{CREATORS}/me"), 401, "unauthorized")
    assert_problem(await api.get(f"{CREATORS}/me", headers=bearer("garbage")), 401, "invalid_token")
    ghost = bearer(token(TokenKind.CREATOR, uuid.uuid4()))
    assert_problem(await api.get(f"{CREATORS}/me/dashboard", headers=ghost), 401, "invalid_token")


# Login throttling


async def test_eleventh_failure_in_a_minute_is_429_and_other_emails_are_unaffected(
    app: FastAPI,
) -> None:
    async with client_at(app) as api:
        target, bystander = await register_creator(api), await register_creator(api)
        email = target["creator"]["email"]
        for _ in range(10):
            assert_problem(await _login(api, email, "wrong password"), 401, "invalid_credentials")
        blocked = await _login(api, email, "wrong password")
        assert_problem(blocked, 429, "too_many_login_attempts")
        assert 1 <= int(blocked.headers["Retry-After"]) <= 60
        # Even the right password waits: the throttle answers before the password is checked.
        assert_problem(await _login(api, email, PASSWORD), 429)
        other = await _login(api, bystander["creator"]["email"], PASSWORD)
        assert other.status_code == 200, other.text


async def test_successful_logins_do_not_count(app: FastAPI) -> None:
    async with client_at(app) as api:
        me = await register_creator(api)
        email = me["creator"]["email"]
        for _ in range(9):
            assert_problem(await _login(api, email, "wrong password"), 401)
        for _ in range(3):
            assert (await _login(api, email, PASSWORD)).status_code == 200
        assert_problem(await _login(api, email, "wrong password"), 401)
        assert_problem(await _login(api, email, "wrong password"), 429)


async def test_parallel_guesses_get_no_more_than_the_limit(app: FastAPI) -> None:
    async with client_at(app) as api:
        me = await register_creator(api)
        email = me["creator"]["email"]
        answers = await asyncio.gather(*(_login(api, email, f"guess {i}") for i in range(16)))
        assert sorted(r.status_code for r in answers) == [401] * 10 + [429] * 6


async def test_one_client_is_limited_across_emails(app: FastAPI, settings: Settings) -> None:
    settings.creator_login_max_failures_per_client = 5
    address = "192.0.2.77"
    async with client_at(app, address) as api:
        for _ in range(5):
            assert_problem(await _login(api, f"{unique()}@example.com", "wrong password"), 401)
        blocked = await _login(api, f"{unique()}@example.com", "wrong password")
        assert_problem(blocked, 429, "too_many_login_attempts")
        assert "Retry-After" in blocked.headers
    async with client_at(app) as elsewhere:
        response = await _login(elsewhere, f"{unique()}@example.com", "wrong password")
        assert_problem(response, 401, "invalid_credentials")


# Earnings


async def _fund_creator(sessions: Sessions, creator_id: str) -> None:
    """Give the creator 500 ARD of royalties, then move redemptions on the ledger the way the
    redemption workflow does: 120 held (pending), 80 paid out, 50 refunded."""
    creator = uuid.UUID(creator_id)
    clearing, paid_out = ledger.System.PAYOUT_CLEARING, ledger.System.PAID_OUT
    async with unit_of_work(sessions) as session:
        account = await ledger.open_account(session, creators.CREATOR, creator)
        issuance = ledger.System.ISSUANCE
        royalty = ledger.Movement(
            "royalty", [ledger.Leg(issuance.id, account.id, 500_000)], 500_000
        )
        await ledger.record(session, f"test-royalty:{creator}", royalty)
        for name, units in (("pending", 120_000), ("paid", 80_000), ("refunded", 50_000)):
            key = f"test-{name}:{creator}"
            await ledger.hold(session, key, account.id, units, ("test", name), into=clearing)
        await ledger.post(
            session,
            f"test-paid:{creator}",
            f"test-paid:{creator}:post",
            ledger.Movement("redemption", [ledger.Leg(clearing.id, paid_out.id, 80_000)], 80_000),
        )
        await ledger.void(session, f"test-refunded:{creator}", f"test-refunded:{creator}:void")


async def test_dashboard_and_wallet_figures(api: httpx.AsyncClient, sessions: Sessions) -> None:
    me, seller, buyer = await register_creator(api), await register(api), await register(api)
    for agent in (seller, buyer):
        response = await api.post(
            f"{CREATORS}/me/agents/{agent['id']}/claim",
            headers={**me["headers"], "X-Agent-Token": agent["jwt_token"]},
        )
        assert response.status_code == 200, response.text
    await _fund_creator(sessions, me["creator"]["id"])

    wallet = (await api.get(f"{CREATORS}/me/wallet", headers=me["headers"])).json()
    assert wallet == {
        "balance": "420.000",
        "held": "120.000",
        "available": "300.000",
        "total_earned": "500.000",
        "total_redeemed": "80.000",
        "usd_equivalent": "0.420000",
        "token_name": "ARD",
    }

    board = (await api.get(f"{CREATORS}/me/dashboard", headers=me["headers"])).json()
    assert board["creator_balance"] == "420.000"
    assert board["total_earned"] == "500.000"
    assert board["agents_count"] == 2
    assert {a["agent_id"] for a in board["agents"]} == {seller["id"], buyer["id"]}
    assert all(a["balance"] == "100.000" for a in board["agents"])
    assert board["total_agent_earnings"] == "0.000"
    assert board["peg_rate_usd"] == "0.001"
    assert board["token_name"] == "ARD"

    page = (
        await api.get(f"{CREATORS}/me/agents", headers=me["headers"], params={"page_size": 1})
    ).json()
    assert page["total"] == 2 and len(page["agents"]) == 1


async def test_owner_of_names_the_claiming_creator(
    api: httpx.AsyncClient, sessions: Sessions
) -> None:
    me, owned, unowned = await register_creator(api), await register(api), await register(api)
    await api.post(
        f"{CREATORS}/me/agents/{owned['id']}/claim",
        headers={**me["headers"], "X-Agent-Token": owned["jwt_token"]},
    )
    agents = [uuid.UUID(owned["id"]), uuid.UUID(unowned["id"]), uuid.uuid4()]
    async with unit_of_work(sessions) as session:
        owners = await creators.owners_of(session, agents)
    assert owners == {agents[0]: uuid.UUID(me["creator"]["id"])}
