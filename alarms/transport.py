"""Posting a webhook body to the address that ``alarms.addresses`` checked, and nowhere else.

requests would resolve the host name again when it connects, and a DNS server that answers a
public address to the check and a private one a moment later (DNS rebinding) would then send the
request into our network. ``PinnedAddressAdapter`` makes urllib3 connect to the checked address
while TLS still sends the host name (SNI) and verifies the certificate against it, and the Host
header names it: to the receiver the request looks like any other HTTPS request to its name.

No redirect is followed (a 3xx could point anywhere, the check would not see it), no proxy from
the environment is used, and the response body is never read.
"""

from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from alarms.addresses import Target, check

USER_AGENT = "APIPlatformPortal-Webhooks/1.0"


class PinnedAddressAdapter(HTTPAdapter):
    """An HTTPS adapter that connects to one given IP address whatever the URL's host name."""

    def __init__(self, *, target: Target, **kwargs: Any) -> None:
        self.target = target
        super().__init__(max_retries=0, **kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if (host_params.get("host") or "").lower().rstrip(".") != self.target.hostname:
            raise ValueError("the request is not for the checked host")  # requests turns it into InvalidURL
        host_params["host"] = str(self.target.address)
        pool_kwargs["server_hostname"] = self.target.hostname  # TLS SNI
        pool_kwargs["assert_hostname"] = self.target.hostname  # the certificate must name the host
        return host_params, pool_kwargs


@dataclass(frozen=True)
class Sent:
    status_code: int
    address: str


def host_header(target: Target) -> str:
    host = f"[{target.hostname}]" if ":" in target.hostname else target.hostname
    return host if target.port == 443 else f"{host}:{target.port}"


def post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Sent:
    """Check the URL's addresses now, then POST ``body`` to the first of them.

    Raises ``alarms.addresses.UnsafeURL`` (or its ``Unresolvable``) before connecting anywhere,
    and requests' exceptions (timeouts, refused connections, TLS failures) from the attempt.
    """
    target = check(url)
    with requests.Session() as session:
        session.trust_env = False  # no proxy or .netrc from the environment
        session.mount("https://", PinnedAddressAdapter(target=target))
        response = session.post(
            target.url,
            data=body,
            headers={"User-Agent": USER_AGENT, **headers, "Host": host_header(target)},
            timeout=timeout,
            allow_redirects=False,
            stream=True,  # the status is all we need: the body stays unread
        )
        response.close()
    return Sent(status_code=response.status_code, address=str(target.address))
