"""Which webhook addresses the portal posts to (SSRF): literal addresses through the real resolver,
``localhost`` through the machine's hosts file, other names through the test's hosts mapping."""

import pytest

from alarms import addresses
from alarms.addresses import Unresolvable, UnsafeURL, check

REFUSED_LITERALS = [
    ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("https://127.1.2.3/hook", "127.1.2.3 is a loopback address"),
    ("https://[::1]/hook", "::1 is a loopback address"),
    ("https://0.0.0.0/hook", "0.0.0.0 is the unspecified address"),
    ("https://[::]/hook", ":: is the unspecified address"),
    ("https://10.1.2.3/hook", "10.1.2.3 is a private or special-purpose address"),
    ("https://172.16.0.9/hook", "172.16.0.9 is a private or special-purpose address"),
    ("https://192.168.1.20:8443/hook", "192.168.1.20 is a private or special-purpose address"),
    ("https://[fd12:3456::1]/hook", "fd12:3456::1 is a private or special-purpose address"),
    ("https://169.254.10.10/hook", "169.254.10.10 is a link-local address"),
    ("https://[fe80::1]/hook", "fe80::1 is a link-local address"),
    ("https://224.0.0.251/hook", "224.0.0.251 is a multicast address"),
    ("https://[ff02::1]/hook", "ff02::1 is a multicast address"),
    ("https://240.0.0.1/hook", "240.0.0.1 is a private or special-purpose address"),
    ("https://198.18.0.1/hook", "198.18.0.1 is a private or special-purpose address"),  # benchmarking
    ("https://100.64.0.1/hook", "100.64.0.1 is not a public internet address"),  # carrier-grade NAT
    ("https://192.0.2.10/hook", "192.0.2.10 is a private or special-purpose address"),  # documentation
    # Cloud metadata: the prize of an SSRF.
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("https://[fd00:ec2::254]/latest", "fd00:ec2::254 is a cloud metadata address"),
    ("https://100.100.100.200/latest", "100.100.100.200 is a cloud metadata address"),
    ("https://168.63.129.16/machine", "168.63.129.16 is a cloud metadata address"),  # public, named
    # IPv6 forms that carry an IPv4 address are judged by it.
    ("https://[::ffff:127.0.0.1]/hook", "is a loopback address (127.0.0.1, inside an IPv6 address)"),
    ("https://[::ffff:169.254.169.254]/hook", "is a cloud metadata address (169.254.169.254, inside an IPv6"),
    ("https://[2002:a00:1::1]/hook", "is a private or special-purpose address (10.0.0.1, inside an IPv6"),
    ("https://[64:ff9b::c0a8:101]/hook", "is a private or special-purpose address (192.168.1.1, inside an IPv6"),
    # Spellings the resolver reads as IPv4 addresses.
    ("https://2130706433/hook", "2130706433 resolves to 127.0.0.1, which is a loopback address"),
    ("https://0x7f000001/hook", "0x7f000001 resolves to 127.0.0.1, which is a loopback address"),
    ("https://0/hook", "0 resolves to 0.0.0.0, which is the unspecified address"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_LITERALS)
def test_addresses_inside_our_network_or_the_clouds_are_refused(url, reason):
    with pytest.raises(UnsafeURL) as refused:
        check(url)

    assert reason in str(refused.value)
    assert str(refused.value).endswith("Webhooks are only sent to public internet addresses.")


def test_localhost_is_refused_through_the_machines_hosts_file():
    with pytest.raises(UnsafeURL, match=r"localhost resolves to (127\.0\.0\.1|::1), which is a loopback address"):
        check("https://localhost:8443/hook")


def test_a_public_address_is_accepted_and_its_url_normalised(hosts):
    target = check("HTTPS://Hooks.ACME.example./portal?source=portal")

    assert target.url == "https://hooks.acme.example/portal?source=portal"
    assert (target.hostname, target.port, str(target.address)) == ("hooks.acme.example", 443, "93.184.215.14")
    assert check("https://1.1.1.1:8443").url == "https://1.1.1.1:8443/"
    assert check("https://[2606:4700:4700::1111]/x").address.version == 6


def test_a_name_with_one_private_address_among_public_ones_is_refused(hosts):
    hosts["mixed.acme.example"] = ["93.184.215.14", "10.0.0.7"]

    with pytest.raises(UnsafeURL, match=r"mixed\.acme\.example resolves to 10\.0\.0\.7, which is a private"):
        check("https://mixed.acme.example/hook")


def test_a_name_pointing_at_the_metadata_service_is_refused(hosts):
    hosts["metadata.acme.example"] = ["169.254.169.254"]

    with pytest.raises(UnsafeURL, match="which is a cloud metadata address"):
        check("https://metadata.acme.example/")


def test_a_name_that_does_not_resolve_is_refused_as_unresolvable():
    with pytest.raises(Unresolvable, match=r"nowhere\.acme\.example does not resolve to any address"):
        check("https://nowhere.acme.example/hook")


def test_international_names_are_resolved_in_their_ascii_form(hosts):
    hosts["xn--bcher-kva.example"] = ["93.184.215.14"]

    assert check("https://bücher.example/hook").url == "https://xn--bcher-kva.example/hook"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Enter the HTTPS address of your webhook receiver."),
        ("http://hooks.acme.example/portal", "must start with https://"),
        ("ftp://hooks.acme.example/", "must start with https://"),
        ("hooks.acme.example/portal", "must start with https://"),
        ("https://user:password@hooks.acme.example/", "Leave the user name and password out"),
        ("https://hooks.acme.example/portal#top", "Leave the #fragment out"),
        ("https:///portal", "The address needs a host name"),
        ("https://hooks.acme.example:99999/", "not a valid address"),
        ("https://hooks.acme.example:port/", "not a valid address"),
        ("https://hooks.acme .example/", "must not contain spaces or control characters"),
        ("https://hooks.acme.example/\x00", "must not contain spaces or control characters"),
        ("https://hooks.acme.example/" + "a" * 500, "Keep the address to 500 characters"),
        ("https://[::1/", "not a valid address"),
    ],
)
def test_anything_but_a_plain_https_url_is_refused_with_a_reason(url, message):
    with pytest.raises(UnsafeURL, match=None) as refused:
        check(url)

    assert message in str(refused.value)


def test_every_refusal_reason_names_a_kind_of_address():
    public = addresses.refusal(addresses.ipaddress.ip_address("93.184.215.14"))
    teredo = addresses.refusal(addresses.ipaddress.ip_address("2001:0:4136:e378:8000:63bf:3fff:fdd2"))

    assert public is None
    assert teredo is not None  # Teredo carries a client's IPv4 address; the prefix is special-purpose
