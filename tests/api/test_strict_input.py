"""Bad input is a 422 problem, never a 500: money parsed strictly in bodies and query strings,
every request string bounded and free of NUL (PostgreSQL text cannot hold it), Idempotency-Key
within what the ledger keys can carry, and bodies that cannot be read at all."""

import json
import re
from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_problem, register
from tests.api.test_creators import register_creator
from tests.api.test_listings import listing

API = "/api/v1"
# Each was a 500 or an accepted value before: Decimal overflow, exponents, NaN, extra places.
BAD_AMOUNTS = ["1e1000000", "1E5", "1e-3", "NaN", "Infinity", "+1", " 1", "01", "1.", ".5"]


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL: where NUL and over-long values used to fail as 500s."""
    return postgres_url


async def test_money_in_bodies_is_a_plain_decimal(api: httpx.AsyncClient) -> None:
    agent, other = await register(api), await register(api)
    creator = await register_creator(api)
    for amount in BAD_AMOUNTS:
        calls = [
            ("wallet/transfer", agent, {"to_agent_id": other["id"], "amount": amount}),
            ("wallet/deposit", agent, {"amount_fiat": amount, "currency": "USD"}),
            ("listings", agent, listing(price_usdc=amount)),
            ("redemptions", creator, {"redemption_type": "api_credits", "amount_ard": amount}),
        ]
        for path, caller, body in calls:
            response = await api.post(f"{API}/{path}", headers=caller["headers"], json=body)
            assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("path", "field", "too_precise", "exact"),
    [
        ("wallet/transfer", "amount", "1.0001", "1.001"),
        ("wallet/deposit", "amount_fiat", "1.001", "1.01"),
        ("listings", "price_usdc", "0.0000001", "0.000001"),
    ],
)
async def test_more_decimals_than_the_unit_are_refused(
    api: httpx.AsyncClient, path: str, field: str, too_precise: str, exact: str
) -> None:
    agent, other = await register(api), await register(api)
    bodies = {
        "wallet/transfer": {"to_agent_id": other["id"]},
        "wallet/deposit": {"currency": "USD"},
        "listings": listing(),
    }
    refused = await api.post(
        f"{API}/{path}", headers=agent["headers"], json={**bodies[path], field: too_precise}
    )
    assert_problem(refused, 422, "validation_error")
    if path != "wallet/deposit":  # a deposit would need Temporal: the exact amount's 422 is enough
        accepted = await api.post(
            f"{API}/{path}", headers=agent["headers"], json={**bodies[path], field: exact}
        )
        assert accepted.status_code == 201, accepted.text


async def test_json_numbers_are_read_as_sent(api: httpx.AsyncClient) -> None:
    agent, other = await register(api), await register(api)
    headers = {**agent["headers"], "content-type": "application/json"}
    sent = await api.post(
        f"{API}/wallet/transfer",
        headers=headers,
        content=b'{"to_agent_id": "%s", "amount": 1.5}' % other["id"].encode(),
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["amount"] == "1.500"
    for number in (b"1e1000000", b"NaN", b"-1", b"0.0001"):
        body = b'{"to_agent_id": "%s", "amount": %s}' % (other["id"].encode(), number)
        refused = await api.post(f"{API}/wallet/transfer", headers=headers, content=body)
        assert_problem(refused, 422)


@pytest.mark.parametrize(
    "query",
    [
        {"min_price": "1e1000000"},
        {"max_price": "NaN"},
        {"min_price": "0.0000001"},
        {"max_price": "1001"},
        {"min_quality": "1e-1000000"},
        {"min_quality": "0.5001"},
    ],
)
async def test_money_in_query_strings_is_a_plain_decimal(
    api: httpx.AsyncClient, query: dict[str, str]
) -> None:
    assert_problem(await api.get(f"{API}/discover", params=query), 422, "validation_error")


async def test_exact_price_filters_are_accepted(api: httpx.AsyncClient) -> None:
    found = await api.get(
        f"{API}/discover", params={"min_price": "0.000001", "max_price": "1000", "min_quality": "1"}
    )
    assert found.status_code == 200, found.text


async def test_nul_is_refused_in_every_kind_of_input(api: httpx.AsyncClient) -> None:
    agent, other = await register(api), await register(api)
    creator = await register_creator(api)
    nul = "a\x00b"
    bodies = [
        (agent, "post", "agents/register", {"name": nul, "agent_type": "both"}),
        (agent, "put", f"agents/{agent['id']}", {"description": nul}),
        (agent, "post", "listings", listing(title=nul)),
        (agent, "post", "listings", listing(tags=[nul])),
        (agent, "post", "listings", listing(metadata={"k": {"deep": [nul]}})),
        (agent, "post", "listings", listing(metadata={nul: 1})),
        (
            agent,
            "post",
            "wallet/transfer",
            {"to_agent_id": other["id"], "amount": "1", "memo": nul},
        ),
        (creator, "put", "creators/me", {"display_name": nul}),
        (creator, "post", "creators/login", {"email": nul, "password": "password123"}),
    ]
    for caller, method, path, body in bodies:
        response = await api.request(method, f"{API}/{path}", headers=caller["headers"], json=body)
        assert_problem(response, 422, "validation_error")
    queries = [
        (agent, "discover", {"q": nul}),
        (agent, "transactions", {"status": nul}),
        (creator, "redemptions", {"status": nul}),
        (agent, "listings/x/bloom-check", {"word": nul}),
    ]
    for caller, path, query in queries:
        response = await api.get(f"{API}/{path}", headers=caller["headers"], params=query)
        assert_problem(response, 422, "validation_error")


async def test_an_idempotency_key_fits_every_ledger_key(api: httpx.AsyncClient) -> None:
    agent, other = await register(api), await register(api)
    transfer = {"to_agent_id": other["id"], "amount": "1"}
    longest = await api.post(
        f"{API}/wallet/transfer",
        headers={**agent["headers"], "Idempotency-Key": "k" * 128},
        json=transfer,
    )
    assert longest.status_code == 201, longest.text
    for key in ("k" * 129, "k" * 300, "with space", "é".encode()):
        refused = await api.post(
            f"{API}/wallet/transfer",
            headers={**agent["headers"], "Idempotency-Key": key},
            json=transfer,
        )
        assert_problem(refused, 422, "validation_error")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "\xff\xfe", "agent_type": "both"}', "application/json"),  # not UTF-8
        (b'{"name": "x", "agent_type": ', "application/json"),  # cut short
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),  # nested past the parser
        (b'{"name": "x", "agent_type": "both", "n": ' + b"9" * 5000 + b"}", "application/json"),
        (b'{"name": NaN, "agent_type": "both"}', "application/json"),
        (b"[]", "application/json"),
        (b"", "application/json"),
        (b'{"name": "x", "agent_type": "both"}', "text/plain"),
        (b"\x00\x01\x02", "application/octet-stream"),
    ],
)
async def test_malformed_bodies_are_422(
    api: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    response = await api.post(
        f"{API}/agents/register", content=content, headers={"content-type": content_type}
    )
    body = assert_problem(response, 422)
    assert body["code"] in {"malformed_body", "validation_error"}


def _bounded(schema: dict[str, Any]) -> bool:
    """A length limit, or a pattern that cannot repeat without end."""
    return "maxLength" in schema or not re.search(r"[*+]|\{\d*,\}", schema.get("pattern", "*"))


def _refuses_nul(schema: dict[str, Any]) -> bool:
    pattern = re.compile(schema.get("pattern", ""))
    return not any(pattern.search(probe) for probe in ("\x00", "a\x00", "a\x00b", "1\x00"))


async def test_every_request_string_is_bounded_and_refuses_nul(api: httpx.AsyncClient) -> None:
    """Read from the served document, so a new field without limits fails here. Ids in a
    path are left out: they are never stored, and anything unknown there is a 404."""
    document = (await api.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    loose: list[str] = []

    def visit(schema: Any, where: str, seen: frozenset[str]) -> None:
        if not isinstance(schema, dict):
            return
        if ref := schema.get("$ref"):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                visit(schemas[name], name, seen | {name})
            return
        free_text = schema.get("type") == "string" and not {"enum", "const"} & schema.keys()
        if free_text and not (_bounded(schema) and _refuses_nul(schema)):
            loose.append(f"{where}: {json.dumps(schema)[:120]}")
        for key, value in schema.items():
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    visit(sub, f"{where}.{name}", seen)
            elif key in ("items", "additionalProperties", "propertyNames"):
                visit(value, f"{where}[{key}]", seen)
            elif key in ("anyOf", "oneOf", "allOf"):
                for sub in value:
                    visit(sub, where, seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "path":
                    visit(parameter["schema"], f"{where} {parameter['name']}", frozenset())
            for media in operation.get("requestBody", {}).get("content", {}).values():
                visit(media["schema"], where, frozenset())
    assert not loose, "\n".join(loose)
