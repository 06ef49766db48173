"""The SSRF guard: every address class that is not public is refused, in IPv4 and IPv6 and in
the IPv6 forms that carry an IPv4 address; the allow-list admits hosts and CIDRs."""

import ipaddress

import pytest

from domain.webhooks import guard
from tests.webhook_consumer import scripted_dns

REFUSED = {
    "0.0.0.0": "unspecified",
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.1.1": "link-local",
    "169.254.169.254": "cloud metadata",
    "100.64.0.1": "carrier-grade NAT",
    "100.100.100.200": "cloud metadata",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "255.255.255.255": "reserved",
    "192.0.2.10": "private",  # documentation
    "198.18.0.1": "private",  # benchmarking
    "240.0.0.1": "reserved",
    "::": "unspecified",
    "::1": "loopback",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd00:ec2::254": "cloud metadata",
    "fec0::1": "site-local",
    "ff02::1": "multicast",
    "2001:db8::1": "private",  # documentation
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped
    "::ffff:169.254.169.254": "cloud metadata",
    "::ffff:10.0.0.1": "private",
    "::127.0.0.1": "loopback",  # IPv4-compatible
    "::10.0.0.1": "private",
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::": "cloud metadata",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe": "cloud metadata",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1": "loopback",
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("address", "reason"), sorted(REFUSED.items()))
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    assert guard.forbidden(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert guard.forbidden(ipaddress.ip_address(address)) is None


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    return scripted_dns(monkeypatch)


NOTHING = guard.Allowlist()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example/x",
        "file:///etc/passwd",
        "http://user:pw@hooks.example/",
        "not a url",
        "http:///path-only",
        "https://hooks.example/" + "a" * 2048,
    ],
)
async def test_malformed_urls_are_refused(dns: dict[str, list[str]], url: str) -> None:
    dns["hooks.example"] = ["93.184.216.34"]
    with pytest.raises(guard.UrlNotAllowed):
        await guard.vet(url, NOTHING)


async def test_literal_and_numeric_hosts_are_judged_by_what_they_resolve_to() -> None:
    # the system resolver, on literals it answers without any lookup
    for url in ("http://127.0.0.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]:8080/"):
        with pytest.raises(guard.UrlNotAllowed, match="loopback"):
            await guard.vet(url, NOTHING)
    for url in ("http://2130706433/", "http://0x7f.1/", "http://127.1/"):  # 127.0.0.1 spelled
        with pytest.raises(guard.UrlNotAllowed, match=r"loopback|does not resolve"):
            await guard.vet(url, NOTHING)
    with pytest.raises(guard.UrlNotAllowed, match="cloud metadata"):
        await guard.vet("http://169.254.169.254/latest/meta-data/", NOTHING)


async def test_a_name_with_any_forbidden_address_is_refused(dns: dict[str, list[str]]) -> None:
    dns["mixed.example"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(guard.UrlNotAllowed, match=r"10\.0\.0\.7, a private address"):
        await guard.vet("https://mixed.example/hook", NOTHING)
    dns["nowhere.example"] = []
    with pytest.raises(guard.UrlNotAllowed, match="does not resolve"):
        await guard.vet("https://nowhere.example/hook", NOTHING)
    with pytest.raises(guard.UrlNotAllowed, match="does not resolve"):
        await guard.vet("https://unknown.example/hook", NOTHING)


async def test_the_vetted_address_is_where_the_connection_goes(dns: dict[str, list[str]]) -> None:
    dns["hooks.example"] = ["93.184.216.34", "2606:2800:220:1::1"]
    target = await guard.vet("https://Hooks.Example:8443/in?x=1", NOTHING)
    assert str(target.connect_url) == "https://93.184.216.34:8443/in?x=1"
    assert target.headers == {"Host": "hooks.example:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example"}  # TLS checks the name
    plain = await guard.vet("http://hooks.example/in", NOTHING)
    assert plain.extensions == {} and plain.headers == {"Host": "hooks.example"}


async def test_the_allowlist_admits_hosts_and_cidrs(dns: dict[str, list[str]]) -> None:
    dns["consumer.test"] = ["127.0.0.1"]
    dns["internal.test"] = ["10.9.8.7"]
    allowlist = guard.Allowlist.parse(" 127.0.0.1/32 , Internal.Test., ")
    assert (
        await guard.vet("http://consumer.test:9000/", allowlist)
    ).address == ipaddress.ip_address("127.0.0.1")
    assert (
        await guard.vet("http://[::ffff:127.0.0.1]:9000/", allowlist)
    ).host == "::ffff:127.0.0.1"
    assert (await guard.vet("http://internal.test/", allowlist)).host == "internal.test"
    for outside in ("http://127.0.0.2/", "http://[::1]/"):
        with pytest.raises(guard.UrlNotAllowed, match="loopback"):
            await guard.vet(outside, allowlist)
    assert guard.Allowlist.parse("") == guard.Allowlist()
