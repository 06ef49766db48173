"""Claiming an agent needs proof of control: the agent's own JWT, or its signature over a
server challenge; an agent has at most one owner."""

import asyncio
import base64
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.settings import Settings
from tests.api.helpers import assert_problem, register
from tests.api.test_creators import CREATORS, register_creator
from tests.conftest import bearer


async def test_claim_needs_proof_of_control(api: httpx.AsyncClient) -> None:
    me, agent, stranger = await register_creator(api), await register(api), await register(api)
    claim_url = f"{CREATORS}/me/agents/{agent['id']}/claim"

    assert_problem(await api.post(claim_url, headers=me["headers"]), 403, "claim_unproven")
    for wrong in (stranger["jwt_token"], "garbage", me["token"]):
        headers = {**me["headers"], "X-Agent-Token": wrong}
        assert_problem(await api.post(claim_url, headers=headers), 403, "claim_unproven")
    assert (await api.get(f"{CREATORS}/me/agents", headers=me["headers"])).json()["total"] == 0

    proof = {**me["headers"], "X-Agent-Token": agent["jwt_token"]}
    claimed = await api.post(claim_url, headers=proof)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["agent_id"] == agent["id"]
    assert claimed.json()["balance"] == "100.000"  # the agent's signup bonus
    again = await api.post(claim_url, headers=proof)
    assert again.status_code == 200 and again.json() == claimed.json()

    owned = (await api.get(f"{CREATORS}/me/agents", headers=me["headers"])).json()
    assert owned["total"] == 1 and owned["page"] == 1
    assert [a["agent_id"] for a in owned["agents"]] == [agent["id"]]

    rival = await register_creator(api)
    rival_proof = {**rival["headers"], "X-Agent-Token": agent["jwt_token"]}
    assert_problem(await api.post(claim_url, headers=rival_proof), 409, "agent_already_claimed")
    assert_problem(
        await api.post(f"{CREATORS}/me/agents/{uuid.uuid4()}/claim", headers=proof),
        404,
        "agent_not_found",
    )
    assert_problem(await api.post(claim_url, headers=proof | bearer(agent["jwt_token"])), 403)


async def test_concurrent_claims_leave_one_owner(api: httpx.AsyncClient) -> None:
    agent = await register(api)
    rivals = [await register_creator(api) for _ in range(4)]
    answers = await asyncio.gather(
        *(
            api.post(
                f"{CREATORS}/me/agents/{agent['id']}/claim",
                headers={**c["headers"], "X-Agent-Token": agent["jwt_token"]},
            )
            for c in rivals
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]


async def test_deactivated_agent_cannot_be_claimed(api: httpx.AsyncClient) -> None:
    me, agent = await register_creator(api), await register(api)
    await api.delete(f"/api/v1/agents/{agent['id']}", headers=agent["headers"])
    response = await api.post(
        f"{CREATORS}/me/agents/{agent['id']}/claim",
        headers={**me["headers"], "X-Agent-Token": agent["jwt_token"]},
    )
    assert_problem(response, 403, "claim_unproven")


def _ed25519() -> tuple[str, Any]:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode(), lambda message: key.sign(message)


def _ed25519_openssh() -> tuple[str, Any]:
    key = Ed25519PrivateKey.generate()
    ssh = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return ssh.decode(), lambda message: key.sign(message)


def _rsa() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode(), lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def _ecdsa() -> tuple[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode(), lambda message: key.sign(message, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("make_key", [_ed25519, _ed25519_openssh, _rsa, _ecdsa])
async def test_claim_with_a_signature_over_a_challenge(
    api: httpx.AsyncClient, make_key: Any
) -> None:
    public_key, sign = make_key()
    me, agent = await register_creator(api), await register(api, public_key=public_key)
    base = f"{CREATORS}/me/agents/{agent['id']}"
    issued = await api.get(f"{base}/challenge", headers=me["headers"])
    assert issued.status_code == 200, issued.text
    challenge = issued.json()["challenge"]
    assert agent["id"] in challenge and issued.json()["expires_at"]

    def signed(text: str, signer: Any = sign) -> dict[str, str]:
        return {"challenge": text, "signature": base64.b64encode(signer(text.encode())).decode()}

    _, other_sign = _ed25519()
    tampered = challenge[:-1] + ("0" if challenge[-1] != "0" else "1")
    for bad in (
        signed(challenge, other_sign),
        signed(tampered),
        {"challenge": challenge, "signature": "not base64!"},
    ):
        response = await api.post(f"{base}/claim", headers=me["headers"], json=bad)
        assert_problem(response, 403, "claim_unproven")

    rival = await register_creator(api)
    stolen = await api.post(f"{base}/claim", headers=rival["headers"], json=signed(challenge))
    assert_problem(stolen, 403, "claim_unproven")  # the challenge names the creator it was for

    claimed = await api.post(f"{base}/claim", headers=me["headers"], json=signed(challenge))
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["agent_id"] == agent["id"]


async def test_expired_challenge_and_keyless_agent_are_refused(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    public_key, sign = _ed25519()
    me = await register_creator(api)
    agent, keyless = await register(api, public_key=public_key), await register(api)
    settings.creator_claim_challenge_ttl_seconds = -1
    stale = (
        await api.get(f"{CREATORS}/me/agents/{agent['id']}/challenge", headers=me["headers"])
    ).json()["challenge"]
    proof = {"challenge": stale, "signature": base64.b64encode(sign(stale.encode())).decode()}
    response = await api.post(
        f"{CREATORS}/me/agents/{agent['id']}/claim", headers=me["headers"], json=proof
    )
    assert_problem(response, 403, "claim_unproven")

    settings.creator_claim_challenge_ttl_seconds = 300
    base = f"{CREATORS}/me/agents/{keyless['id']}"
    text = (await api.get(f"{base}/challenge", headers=me["headers"])).json()["challenge"]
    proof = {"challenge": text, "signature": base64.b64encode(sign(text.encode())).decode()}
    response = await api.post(f"{base}/claim", headers=me["headers"], json=proof)
    assert_problem(response, 403, "claim_unproven")
    assert_problem(
        await api.get(f"{CREATORS}/me/agents/nope/challenge", headers=me["headers"]), 404
    )
