"""The client's address: one answer for the login locks, the password-reset limit and the audit trail.

Behind a reverse proxy, ``REMOTE_ADDR`` is the proxy: every customer would share one address,
so one office's typos (or one attacker) would count against everyone. ``X-Forwarded-For`` names
the client, but anyone can send that header; it is believed only as far as the operator says
proxies are in front of the portal:

- ``AXES_IPWARE_PROXY_COUNT`` (``DJANGO_TRUSTED_PROXY_COUNT``): that many proxies each append
  the address they received the request from, so the client is that many entries from the right
  of ``X-Forwarded-For, REMOTE_ADDR``; entries further left were written by the client.
- ``AXES_IPWARE_PROXY_TRUSTED_IPS`` (``DJANGO_TRUSTED_PROXIES``): addresses or networks of the
  proxies, outermost first, the one that talks to the portal last; the chain must end with them,
  otherwise (a request that did not come through them) ``REMOTE_ADDR`` is the client.

Neither set: ``REMOTE_ADDR`` alone, and a forged header changes nothing. The chain is read by
python-ipware (django-axes' ipware settings), which also parses ports, IPv6 and bad entries.
django-axes calls this too (``AXES_CLIENT_IP_CALLABLE``).
"""

from django.conf import settings
from django.http import HttpRequest
from python_ipware import IpWare

_CHAIN = "HTTP_X_PORTAL_PROXY_CHAIN"  # not a header: the chain below, handed to python-ipware


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    count: int | None = settings.AXES_IPWARE_PROXY_COUNT
    trusted: list[str] | None = settings.AXES_IPWARE_PROXY_TRUSTED_IPS
    if remote is None or (not count and not trusted):
        return remote
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", "")).strip()
    if not forwarded:
        return remote  # not through the proxies (or they did not say): the peer is the client
    # The last proxy does not write its own address into the header: REMOTE_ADDR is that hop.
    chain = f"{forwarded}, {remote}"
    ipware = IpWare(precedence=(_CHAIN,), proxy_count=count or None, proxy_list=trusted or None)
    ip, _trusted_route = ipware.get_client_ip({_CHAIN: chain})
    return str(ip) if ip is not None else remote
