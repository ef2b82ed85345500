"""A hosts mapping in place of DNS for the webhook address checks (alarms.addresses)."""

import socket
from typing import Any

from alarms import addresses

REAL_GETADDRINFO = socket.getaddrinfo


class Hosts:
    """Names the tests resolve, like /etc/hosts; literal addresses and ``localhost`` go to the real
    resolver. Any other name does not resolve: no test reaches a DNS server."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}

    def __setitem__(self, name: str, addresses: list[str]) -> None:
        self.names[name] = addresses

    def getaddrinfo(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host in self.names:
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, port, 0, 0) if ":" in address else (address, port),
                )
                for address in self.names[host]
            ]
        if host == "localhost" or _is_literal(host):
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _is_literal(host: str) -> bool:
    """An address the resolver reads without DNS, in any spelling it accepts ("2130706433", "0x7f000001")."""
    try:
        if ":" in host:
            socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
        else:
            socket.inet_aton(host)
    except OSError:
        return False
    return True


def use_hosts(monkeypatch: Any) -> Hosts:
    """Resolve through a fresh mapping for the rest of the test; ``hooks.acme.example`` is public."""
    mapping = Hosts()
    mapping["hooks.acme.example"] = ["93.184.215.14"]
    monkeypatch.setattr(addresses.socket, "getaddrinfo", mapping.getaddrinfo)
    return mapping
