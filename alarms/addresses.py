"""Where a webhook may be sent: an HTTPS URL whose host resolves to public internet addresses only.

The portal posts to an address a customer typed, from inside the data centre. Without a check,
``https://169.254.169.254/`` would read the cloud's metadata service (credentials), and
``https://10.0.0.5:6379/`` or a name resolving to it would reach our own network (SSRF).
So every address the host name resolves to must be a public unicast address: not loopback,
private, shared (carrier-grade NAT), link-local, multicast, reserved, unspecified, a
documentation range, nor a cloud metadata address; IPv6 forms that carry an IPv4 address
(IPv4-mapped, 6to4, Teredo, NAT64) are judged by that IPv4 address too.

The check runs when the URL is saved and again before every attempt to send; ``alarms.transport``
then connects to exactly the address checked here, so a DNS answer that changes between the check
and the connection (DNS rebinding) cannot send the request elsewhere.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

URL_MAX_LENGTH = 500
# Well-known metadata and platform-agent addresses of the big clouds. Most are link-local or private
# and refused anyway; Azure's 168.63.129.16 is a public address, so it needs naming.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud
    )
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """The URL is not one the portal may post to; the message says why, for the admin who typed it."""


class Unresolvable(UnsafeURL):
    """The host name has no address now (perhaps for a while: a send is retried)."""


@dataclass(frozen=True)
class Target:
    url: str  # normalised: scheme and host in lower case, the host in ASCII (IDNA)
    hostname: str
    port: int
    address: Address  # where to connect: one of the checked addresses


def parse(url: str) -> tuple[str, str, int]:
    """The normalised URL, its host name and port; UnsafeURL for anything but a plain HTTPS URL."""
    text = url.strip()
    if not text:
        raise UnsafeURL("Enter the HTTPS address of your webhook receiver.")
    if len(text) > URL_MAX_LENGTH:
        raise UnsafeURL(f"Keep the address to {URL_MAX_LENGTH} characters (it has {len(text)}).")
    if any(ord(ch) < 33 or ord(ch) == 127 or ch.isspace() for ch in text):
        raise UnsafeURL("The address must not contain spaces or control characters.")
    try:
        parts = urlsplit(text)
        port = parts.port or 443
    except ValueError:
        raise UnsafeURL("That is not a valid address: check the host name and port.") from None
    if parts.scheme.lower() != "https":
        raise UnsafeURL("The address must start with https:// (events are only sent encrypted).")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("Leave the user name and password out of the address: the signature proves the sender.")
    if parts.fragment or text.endswith("#"):
        raise UnsafeURL("Leave the #fragment out of the address: it is never sent to the server.")
    hostname = parts.hostname or ""
    if not hostname:
        raise UnsafeURL("The address needs a host name, as in https://hooks.example.com/portal.")
    try:
        ascii_host = hostname if hostname.isascii() else hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeURL(f"“{hostname}” is not a valid host name.") from None
    ascii_host = ascii_host.lower().rstrip(".")
    if not ascii_host or len(ascii_host) > 253:
        raise UnsafeURL("That is not a valid host name.")
    netloc = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if parts.port is not None:
        netloc += f":{port}"
    normalised = urlunsplit(("https", netloc, parts.path or "/", parts.query, ""))
    return normalised, ascii_host, port


def refusal(address: Address) -> str | None:
    """Why the portal must not connect to ``address``, or None for a public unicast address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and (reason := refusal(embedded)) is not None:
            return f"{reason} ({embedded}, inside an IPv6 address)"
    checks = (
        ("is_unspecified", "the unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private or special-purpose address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute):
            return reason
    if not address.is_global:  # e.g. 100.64.0.0/10, shared by carrier-grade NAT
        return "not a public internet address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address (the server is public by construction)
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(hostname: str, port: int) -> list[Address]:
    """Every address the host name resolves to now (a literal address is itself), in the resolver's order."""
    try:
        answers = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise Unresolvable(f"{hostname} does not resolve to any address ({exc.__class__.__name__}).") from None
    found: list[Address] = []
    for family, *_, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # An IPv6 zone (fe80::1%eth0) names an interface: the address is judged without it.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Unresolvable(f"{hostname} does not resolve to any address.")
    return found


def _is_literal(hostname: str, address: Address) -> bool:
    try:
        return ipaddress.ip_address(hostname) == address
    except ValueError:
        return False


def check(url: str) -> Target:
    """The URL, normalised, with the address to connect to; UnsafeURL saying why it may not be used.

    Every address the name resolves to must be public: a name with one public and one private
    address is refused, since nothing says which one a later resolution would pick.
    """
    normalised, hostname, port = parse(url)
    addresses = resolve(hostname, port)
    for address in addresses:
        if (reason := refusal(address)) is not None:
            where = hostname if _is_literal(hostname, address) else f"{hostname} resolves to {address}, which"
            raise UnsafeURL(f"{where} is {reason}. Webhooks are only sent to public internet addresses.")
    return Target(url=normalised, hostname=hostname, port=port, address=addresses[0])
