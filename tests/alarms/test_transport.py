"""The connection goes to the checked address, with the host's name in TLS and in the request.

A real HTTPS server on 127.0.0.1 with a certificate for ``hooks.portal.test`` (made here with
cryptography) stands in for the customer's receiver. The address check would refuse 127.0.0.1,
so these tests hand the adapter a target directly: they prove the pinning, not the check.
"""

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alarms.addresses import Target
from alarms.transport import PinnedAddressAdapter, host_header

NAME = "hooks.portal.test"


@dataclass
class Server:
    port: int
    ca_file: str
    requests: list[dict[str, object]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    status: int = 204
    location: str = ""


@pytest.fixture(autouse=True)
def outside_world() -> None:
    """Real connections here (to 127.0.0.1 only): the conftest's stand-in internet is not used."""


def _certificate(directory: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    cert_file, key_file = _certificate(tmp_path)
    state = Server(port=0, ca_file=cert_file)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append({"host": self.headers["Host"], "path": self.path, "body": body})
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, server_name, ctx: state.server_names.append(server_name)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _session(target: Target) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", PinnedAddressAdapter(target=target))
    return session


def _target(server: Server, hostname: str = NAME) -> Target:
    return Target(
        url=f"https://{hostname}:{server.port}/portal",
        hostname=hostname,
        port=server.port,
        address=ipaddress.ip_address("127.0.0.1"),
    )


def test_the_request_goes_to_the_checked_address_with_the_hosts_name_in_tls_and_the_host_header(server):
    target = _target(server)  # hooks.portal.test resolves nowhere: only the pinned address is used

    response = _session(target).post(
        target.url, data=b'{"id":"evt_1"}', headers={"Host": host_header(target)}, verify=server.ca_file
    )

    assert response.status_code == 204
    assert server.requests == [{"host": f"{NAME}:{server.port}", "path": "/portal", "body": b'{"id":"evt_1"}'}]
    assert server.server_names == [NAME]  # SNI names the host, not the address


def test_a_certificate_for_another_name_is_refused(server):
    target = _target(server, hostname="evil.portal.test")

    with pytest.raises(requests.exceptions.SSLError, match="doesn't match"):
        _session(target).post(target.url, data=b"{}", verify=server.ca_file)

    assert server.requests == []


def test_the_adapter_refuses_a_request_for_another_host(server):
    target = _target(server)

    with pytest.raises(requests.exceptions.InvalidURL, match="not for the checked host"):
        _session(target).post(f"https://elsewhere.portal.test:{server.port}/", data=b"{}", verify=server.ca_file)


def test_redirects_are_not_followed_by_the_webhook_sender(server, monkeypatch):
    """transport.post: a 3xx is the answer; the Location is never visited (it could be anywhere)."""
    from alarms import transport

    server.status, server.location = 307, "https://169.254.169.254/latest/meta-data/"
    monkeypatch.setattr(transport, "check", lambda url: _target(server))
    # The test server's certificate is trusted for this test only, as a public CA's would be.
    monkeypatch.setattr(requests.Session, "merge_environment_settings", _trusting(server.ca_file))

    sent = transport.post(url=f"https://{NAME}/portal", body=b"{}", headers={}, timeout=5)

    assert sent.status_code == 307
    assert len(server.requests) == 1


def _trusting(ca_file: str):
    original = requests.Session.merge_environment_settings

    def merge(self, url, proxies, stream, verify, cert):
        settings = original(self, url, proxies, stream, verify, cert)
        settings["verify"] = ca_file
        return settings

    return merge


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_a_real_receiver_on_this_machine_is_refused_before_any_connection(server, host):
    """The SSRF check stands before the socket: the listening server never sees a handshake."""
    from alarms import transport
    from alarms.addresses import UnsafeURL

    with pytest.raises(UnsafeURL, match="is a loopback address"):
        transport.post(url=f"https://{host}:{server.port}/portal", body=b"{}", headers={}, timeout=5)

    assert server.requests == [] and server.server_names == []
