"""The SSRF guard: a webhook goes only to public addresses (ADR 0024).

A URL is vetted at registration and again before every delivery: its name is resolved, and
every address it resolves to must be public (IPv4 and IPv6, judging an IPv6 address that embeds
an IPv4 one — mapped, compatible, 6to4, NAT64 — by that IPv4 address), unless the host or the
address is inside `WEBHOOK_ALLOWLIST`. Delivery then connects to the vetted address itself, with
the name kept for `Host` and TLS (SNI and certificate), so no second lookup can change the
answer between the check and the connection.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from core.errors import RuleViolation

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

SCHEMES = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
)


class UrlNotAllowed(RuleViolation):
    code = "webhook_url_not_allowed"
    title = "This URL may not receive webhooks"


@dataclass(frozen=True)
class Allowlist:
    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Allowlist":
        """`host, 10.0.0.0/8, ::1/128`: names and CIDRs, comma-separated."""
        hosts, networks = set(), []
        for entry in filter(None, (item.strip() for item in text.split(","))):
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(_name(entry))
        return cls(frozenset(hosts), tuple(networks))

    def admits(self, address: Address) -> bool:
        candidates = {address, *filter(None, [_embedded_ipv4(address)])}
        return any(a in network for a in candidates for network in self.networks)


@dataclass(frozen=True)
class Target:
    """A vetted URL and the address to connect to."""

    url: httpx.URL
    address: Address

    @property
    def host(self) -> str:
        return self.url.raw_host.decode("ascii")

    @property
    def connect_url(self) -> httpx.URL:
        return self.url.copy_with(host=str(self.address))

    @property
    def headers(self) -> dict[str, str]:
        return {"Host": self.url.netloc.decode("ascii")}

    @property
    def extensions(self) -> dict[str, str]:
        return {"sni_hostname": self.host} if self.url.scheme == "https" else {}


def parse(url: str) -> httpx.URL:
    """The URL if its form is acceptable: http(s), a host, no credentials."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlNotAllowed(f"The URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise UrlNotAllowed("The URL cannot be parsed") from None
    if parsed.scheme not in SCHEMES or not parsed.raw_host:
        raise UrlNotAllowed("The URL must be http or https with a host")
    if parsed.userinfo:
        raise UrlNotAllowed("The URL may not carry credentials")
    return parsed


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# The resolver in use; tests replace it to script what a name resolves to over time.
resolve: Resolver = system_resolve


async def vet(url: str, allowlist: Allowlist) -> Target:
    """Resolve the URL's host and refuse it unless every address is public or allow-listed."""
    parsed = parse(url)
    host = _name(parsed.raw_host.decode("ascii"))
    port = parsed.port or SCHEMES[parsed.scheme]
    try:
        found = [ipaddress.ip_address(a.split("%")[0]) for a in await resolve(host, port)]
    except (OSError, UnicodeError, ValueError):
        raise UrlNotAllowed(f"{host} does not resolve") from None
    if not found:
        raise UrlNotAllowed(f"{host} does not resolve")
    if host not in allowlist.hosts:
        for address in found:
            if not allowlist.admits(address) and (reason := forbidden(address)):
                raise UrlNotAllowed(f"{host} resolves to {address}, a {reason} address")
    return Target(parsed, found[0])


def forbidden(address: Address) -> str | None:
    """Why this address may not receive webhooks (None: it is public)."""
    if (inner := _embedded_ipv4(address)) is not None:
        return forbidden(inner)
    if address in METADATA:
        return "cloud metadata"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("carrier-grade NAT", isinstance(address, ipaddress.IPv4Address) and address in CGNAT),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((reason for reason, hit in checks if hit), None)


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries: mapped, compatible (::a.b.c.d), 6to4 or NAT64."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    value = int(address)
    if (value >> 32 == 0 and value > 1) or address in NAT64:  # :: and ::1 are IPv6's own
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def _name(host: str) -> str:
    return host.strip().lower().rstrip(".").strip("[]")
