"""A delivery connects to the vetted address but speaks TLS to the name: SNI and the
certificate check use the name, over a real TLS handshake with a local server."""

import datetime
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request

from core import signatures
from domain.webhooks import delivery, guard
from domain.webhooks.kinds import KINDS, Rules
from tests.local_server import LocalServer
from tests.webhook_consumer import scripted_dns
from workflows.contracts.webhooks import EndpointKind

NOW = datetime.datetime.now(datetime.UTC)


def _certificate(
    subject: str,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    names: list[x509.GeneralName],
    ca: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(hours=1))
        .not_valid_after(NOW + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture
def pki(tmp_path: Path) -> tuple[ssl.SSLContext, Path, Path]:
    """A test CA trusted by the client, and a server certificate for `consumer.test` only."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(
        "Test CA",
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]),
        ca_key,
        ca_key,
        [],
        True,
    )
    leaf = _certificate(
        "consumer.test", ca.subject, key, ca_key, [x509.DNSName("consumer.test")], False
    )
    certfile, keyfile = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    certfile.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    trust = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return trust, certfile, keyfile


@pytest.fixture
async def consumer(
    pki: tuple[ssl.SSLContext, Path, Path],
) -> AsyncIterator[tuple[LocalServer, list[str]]]:
    hosts: list[str] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        hosts.append(request.headers["host"])
        return {}

    async with LocalServer(app, ssl_certfile=str(pki[1]), ssl_keyfile=str(pki[2])) as server:
        yield server, hosts


async def _send(trust: ssl.SSLContext, url: str) -> delivery.Outcome:
    target = await guard.vet(url, guard.Allowlist.parse("127.0.0.1/32"))
    kind = KINDS[EndpointKind.SELLER]
    endpoint = delivery.Endpoint(
        uuid.uuid4(), url, kind, Rules(1, 5, 5), [signatures.new_secret()], False
    )
    due = delivery.Due(uuid.uuid4(), uuid.uuid4(), "{}")
    async with httpx.AsyncClient(verify=trust, trust_env=False) as client:
        return await delivery.send(client, target, endpoint, due)


async def test_tls_is_checked_against_the_name_while_connecting_to_the_vetted_address(
    monkeypatch: pytest.MonkeyPatch,
    pki: tuple[ssl.SSLContext, Path, Path],
    consumer: tuple[LocalServer, list[str]],
) -> None:
    server, hosts = consumer
    dns = scripted_dns(monkeypatch)
    dns["consumer.test"] = ["127.0.0.1"]
    dns["impostor.test"] = ["127.0.0.1"]  # the same address, a name the certificate lacks
    outcome = await _send(pki[0], f"https://consumer.test:{server.port}/hook")
    assert outcome == delivery.Outcome(True, 200)
    assert hosts == [f"consumer.test:{server.port}"]
    refused = await _send(pki[0], f"https://impostor.test:{server.port}/hook")
    assert not refused.ok and "CERTIFICATE_VERIFY_FAILED" in (refused.error or "")
    assert hosts == [f"consumer.test:{server.port}"]  # nothing reached the server
