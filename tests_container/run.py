"""`make container-test`: the production shape, started for real and used over HTTP.

Builds the portal's image from the Dockerfile, starts docker-compose.yml (migrate, web, worker, beat,
postgres, redis) with podman-compose, then checks as an operator and a customer would:

  - each healthcheck of the compose file passes (web's /health/, the worker's ping, beat's schedule);
  - /health/ answers 200 over plain HTTP from outside;
  - a demo user (seed_demo run in the web container) logs in with password + TOTP;
  - a file uploaded through web downloads again, byte for byte;
  - an extract requested through web is written by the worker, encrypted to the demo organisation's
    age key, downloads through web and decrypts with the secret key seed_demo printed;
  - beat has sent its periodic heartbeat and the worker ran it.

Registries cannot be reached here (docs/containers.md): the base image stands in for
python:3.11-slim and is made from Debian packages with debootstrap, and postgres/redis are
stand-ins built on it; docker-compose.standins.yml swaps those two images and nothing else. The
base and the stand-ins are cached (podman's storage; the base also as a tarball in
$PORTAL_CONTAINER_CACHE, default ~/.cache/portal-container-test); everything else this run made
(containers, network, volumes, the portal image) is removed at the end, pass or fail.

Podman 4.3 (Debian bookworm) ignores `condition: service_healthy` and cannot start a service whose
dependency has dependencies of its own, and runs no healthchecks by itself (no systemd here). So
this script brings the services up in the order the compose file's conditions give (databases
healthy -> migrate exited 0 -> web, worker, beat) and runs each healthcheck itself; the conditions
themselves are checked by tests/portal/test_docker_compose.py.

Skipped, with a message and exit status 0, where podman or podman-compose is missing.
Options: --keep (leave the stack running), --rebuild-cache (rebuild the base and stand-ins).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests_container"
CACHE = Path(os.environ.get("PORTAL_CONTAINER_CACHE") or Path.home() / ".cache" / "portal-container-test")
BASE_IMAGE = "localhost/pybase:bookworm"
STANDINS = {
    "localhost/portal-standin-postgres:15": "postgres.Containerfile",
    "localhost/portal-standin-redis:7": "redis.Containerfile",
}
HOST = "localhost"  # the one DJANGO_ALLOWED_HOSTS entry; requests name it in their Host header
DEMO_USER = "alice@acme.example"  # the demo organisation's admin (seed_demo)
DEMO_AGE_KEY: list[str] = []  # the demo's age secret key, as seed_demo printed it (extracts/demo.py)
DEMO_PASSWORD = "demo-portal-password"
HEARTBEAT_SECONDS = 10

STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[container-test {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


class Failure(Exception):
    pass


def check(condition: object, message: str) -> None:
    if not condition:
        raise Failure(message)


def run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    check_rc: bool = True,
    quiet: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=env, capture_output=quiet, text=True, timeout=timeout, check=False)
    if check_rc and result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "")
        raise Failure(f"{' '.join(args[:6])} … exited {result.returncode}\n{output[-3000:]}")
    return result


def wait_for(what: str, probe: Callable[[], bool], *, timeout: float, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(every)
    raise Failure(f"gave up after {timeout:.0f} s waiting for {what}")


# --- Cached base and stand-in images ------------------------------------------------------------


def image_exists(name: str) -> bool:
    return run(["podman", "image", "exists", name], check_rc=False).returncode == 0


def debian_mirror() -> str:
    for path in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        if path.exists():
            text = path.read_text()
            match = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.MULTILINE) or re.search(
                r"^deb\s+(\S+/debian)\s+bookworm\b", text, re.MULTILINE
            )
            if match:
                return match.group(1)
    return "http://deb.debian.org/debian"


def ensure_base_image(rebuild: bool) -> None:
    tarball = CACHE / "base.tar"
    if rebuild:
        run(["podman", "rmi", "-f", BASE_IMAGE, *STANDINS], check_rc=False)
        tarball.unlink(missing_ok=True)
    if image_exists(BASE_IMAGE):
        say(f"base image {BASE_IMAGE}: cached")
    elif tarball.exists():
        say(f"base image {BASE_IMAGE}: importing {tarball}")
        run(["podman", "import", str(tarball), BASE_IMAGE])
    else:
        if os.geteuid() != 0 or not shutil.which("debootstrap"):
            raise Failure("making the base image needs root and debootstrap (apt-get install debootstrap)")
        CACHE.mkdir(parents=True, exist_ok=True)
        rootfs = CACHE / "rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        mirror = debian_mirror()
        say(f"base image {BASE_IMAGE}: debootstrap from {mirror} (about a minute, once)")
        run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,python3-pip,ca-certificates",
                "bookworm",
                str(rootfs),
                mirror,
            ]
        )
        (rootfs / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
        (rootfs / "usr/bin/python").unlink(missing_ok=True)
        (rootfs / "usr/bin/python").symlink_to("/usr/bin/python3")
        # The certificate authorities pip trusts here, so pip inside the build reaches PyPI too.
        shutil.copy(
            os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt",
            rootfs / "etc/ssl/certs/ca-certificates.crt",
        )
        run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."])
        shutil.rmtree(rootfs, ignore_errors=True)
        run(["podman", "import", str(tarball), BASE_IMAGE])
    for name, containerfile in STANDINS.items():
        # Built every run: podman's layer cache makes it quick, and a changed stand-in file is used.
        say(f"stand-in image {name}: building")
        run(["podman", "build", "--network", "host", "-t", name, "-f", containerfile, str(HERE / "standins")])


# --- HTTP as a browser behind the TLS proxy would send it ---------------------------------------


class Browser:
    """Cookies kept by hand: they are Secure (__Host-…) and we speak plain HTTP to the container,
    as the TLS proxy would, saying so with X-Forwarded-Proto."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": HOST, "X-Forwarded-Proto": "https"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            headers["Origin"] = f"https://{HOST}"
            headers["Referer"] = f"https://{HOST}{path}"
            headers["Content-Type"] = content_type or "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path)

    def csrf_token(self, path: str) -> str:
        status, _, page = self.get(path)
        check(status == 200, f"GET {path} answered {status}")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        check(match, f"no CSRF token in {path}")
        assert match is not None
        return match.group(1).decode()

    def post_form(self, path: str, fields: dict[str, str], *, form_page: str) -> tuple[int, dict[str, str], bytes]:
        from urllib.parse import urlencode

        token = self.csrf_token(form_page)
        return self.request("POST", path, urlencode({**fields, "csrfmiddlewaretoken": token}).encode())

    def post_file(
        self, path: str, *, form_page: str, field: str, filename: str, content: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        token = self.csrf_token(form_page)
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                "Content-Type: text/plain\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request("POST", path, body, f"multipart/form-data; boundary={boundary}")


def totp(key_base32: str, *, at: float | None = None) -> str:
    key = base64.b32decode(key_base32)
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


# --- The stack ------------------------------------------------------------------------------------


class Stack:
    def __init__(self, compose_cmd: list[str], image: str) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.project = f"portaltest{self.run_id}"
        self.image = image
        self.port = free_port()
        self.compose = [
            *compose_cmd,
            "-p",
            self.project,
            "-f",
            str(ROOT / "docker-compose.yml"),
            "-f",
            str(HERE / "docker-compose.standins.yml"),
        ]
        password = secrets.token_urlsafe(16)
        # A clean environment: nothing from this machine's own settings (DATABASE_URL, AWS_…) leaks in.
        keep = {
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "TMPDIR",
            "XDG_RUNTIME_DIR",
            "CONTAINERS_CONF",
            "CONTAINERS_STORAGE_CONF",
        }
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env.update(
            {
                "PORTAL_IMAGE": image,
                "PORTAL_HTTP_PORT": str(self.port),
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
                "DJANGO_ALLOWED_HOSTS": HOST,
                "PORTAL_BASE_URL": f"https://{HOST}",
                "POSTGRES_PASSWORD": password,
                # The demo vault: a table seed_demo fills, here in the portal's own database.
                "VAULT_DATABASE_URL": f"postgres://portal:{password}@postgres:5432/portal",
                "DEFAULT_FROM_EMAIL": "API Platform Portal <portal@example.com>",
                "SUPPORT_EMAIL": "support@example.com",
                "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
                "BEAT_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            }
        )

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def podman_compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run([*self.compose, *args], env=self.env)

    def healthy(self, service: str) -> bool:
        return run(["podman", "healthcheck", "run", self.container(service)], check_rc=False).returncode == 0

    def logs(self, service: str) -> str:
        result = run(["podman", "logs", self.container(service)], check_rc=False)
        return result.stdout + result.stderr

    def exec(self, service: str, *args: str) -> str:
        return run(["podman", "exec", self.container(service), *args]).stdout

    def up(self) -> None:
        say("starting postgres and redis")
        self.podman_compose("up", "-d", "--no-deps", "postgres", "redis")
        wait_for(
            "postgres and redis to be healthy", lambda: self.healthy("postgres") and self.healthy("redis"), timeout=90
        )
        say("running the one-shot migrate service")
        self.podman_compose("up", "-d", "--no-deps", "migrate")
        exit_code = run(["podman", "wait", self.container("migrate")], timeout=300).stdout.strip()
        check(exit_code == "0", f"migrate exited {exit_code}:\n{self.logs('migrate')[-3000:]}")
        say("starting web, worker and beat")
        self.podman_compose("up", "-d", "--no-deps", "web", "worker", "beat")
        wait_for("web's healthcheck (/health/)", lambda: self.healthy("web"), timeout=120, every=2)
        wait_for("the worker's healthcheck (celery inspect ping)", lambda: self.healthy("worker"), timeout=120, every=3)
        say("web and worker healthchecks pass")

    def down(self) -> None:
        run([*self.compose, "down", "-v"], env=self.env, check_rc=False)
        label = f"label=io.podman.compose.project={self.project}"
        for kind in ["container", "volume", "network"]:
            listing = ["podman", kind, "ls", "-q", "--filter", label, *(["-a"] if kind == "container" else [])]
            names = run(listing, check_rc=False).stdout.split()
            if names:
                run(["podman", kind, "rm", "-f", *names], check_rc=False)
        run(["podman", "rmi", "-f", self.image], check_rc=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- The checks -----------------------------------------------------------------------------------


def check_health_over_plain_http(stack: Stack) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    connection.request("GET", "/health/", headers={"Host": HOST})
    response = connection.getresponse()
    body = json.loads(response.read())
    check(response.status == 200 and body["status"] == "ok", f"/health/ answered {response.status}: {body}")
    check(set(body["checks"]) == {"database", "cache", "broker", "storage"}, f"/health/ checks {body['checks']}")
    say(f"/health/ over plain HTTP: 200 {body['checks']}")


def seed_demo(stack: Stack) -> str:
    command = ["python", "manage.py", "seed_demo"]
    if "--i-know" in stack.exec("web", *command, "--help"):
        command.append("--i-know")  # seed_demo refuses DJANGO_DEBUG=0 without it
    output = stack.exec("web", *command)
    match = re.search(rf"{re.escape(DEMO_USER)}\s.*authenticator key ([A-Z2-7=]+)", output)
    check(match, f"seed_demo printed no authenticator key for {DEMO_USER}:\n{output}")
    assert match is not None
    age_key = re.search(r"^\s*(AGE-SECRET-KEY-1[0-9A-Z]+)\s*$", output, re.MULTILINE)
    DEMO_AGE_KEY[:] = [age_key.group(1)] if age_key else []
    say("seed_demo loaded the demo organisation in the web container")
    return match.group(1)


def log_in(stack: Stack, key: str) -> Browser:
    browser = Browser(stack.port)
    status, headers, _ = browser.post_form(
        "/login/", {"username": DEMO_USER, "password": DEMO_PASSWORD}, form_page="/login/"
    )
    check(
        status == 302 and headers["location"].endswith("/login/code/"),
        f"password step answered {status} {headers.get('location')}",
    )
    status, headers, page = browser.post_form("/login/code/", {"code": totp(key)}, form_page="/login/code/")
    check(status == 302, f"code step answered {status}: {page[:2000]!r}")
    status, _, page = browser.get("/")
    check(status == 200 and b"Alice" in page, f"the dashboard answered {status} after logging in")
    say(f"{DEMO_USER} logged in with password + TOTP")
    return browser


def check_upload_and_download(browser: Browser) -> None:
    name = f"container-test-{uuid.uuid4().hex[:8]}.txt"
    content = f"uploaded through web at {time.time()}\n".encode()
    status, headers, page = browser.post_file(
        "/files/other/upload/", form_page="/files/?section=other", field="file", filename=name, content=content
    )
    check(status == 302, f"upload answered {status}: {page[:2000]!r}")
    status, _, page = browser.get("/files/?section=other")
    match = re.search(rb'href="/files/(\d+)/download/" aria-label="Download ' + re.escape(name.encode()), page)
    check(match, f"{name} is not listed under Other files")
    assert match is not None
    status, headers, body = browser.get(f"/files/{match.group(1).decode()}/download/")
    check(status == 200 and body == content, f"download answered {status} with {body[:200]!r}")
    check("attachment" in headers.get("content-disposition", ""), "the download is not an attachment")
    say(f"uploaded {name} through web and downloaded it again")


def check_extract(browser: Browser) -> None:
    status, _, _ = browser.post_form("/extracts/request/", {}, form_page="/extracts/")
    check(status == 302, f"requesting an extract answered {status}")
    found: list[bytes] = []

    def extract_ready() -> bool:
        _, _, page = browser.get("/extracts/")
        found[:] = re.findall(rb'href="/files/(\d+)/download/"', page)
        return bool(found)

    wait_for("the worker to write the extract", extract_ready, timeout=120, every=2)
    status, _, body = browser.get(f"/files/{found[0].decode()}/download/")
    check(status == 200, f"extract download answered {status}")
    encrypted = body.startswith(b"age-encryption.org/v1\n")
    if encrypted:  # the demo organisation's extracts are encrypted to the demo key seed_demo printed
        import pyrage

        check(bool(DEMO_AGE_KEY), "the extract is encrypted, but seed_demo printed no demo age secret key")
        body = pyrage.decrypt(body, [pyrage.x25519.Identity.from_str(DEMO_AGE_KEY[0])])
    rows = gzip.decompress(body).decode().splitlines()
    check(len(rows) > 100, f"the extract holds {len(rows)} lines")
    how = "encrypted by the worker to the demo age key, decrypted here" if encrypted else "plain gzip"
    say(f"the worker wrote the requested extract; downloaded through web ({how}): {len(rows)} CSV lines")


def check_beat(stack: Stack) -> None:
    def heartbeat_ran() -> bool:
        return bool(re.search(r"Task portal\.health\.beat_heartbeat\[[0-9a-f-]+\] succeeded", stack.logs("worker")))

    wait_for("the worker to run beat's heartbeat task", heartbeat_ran, timeout=3 * HEARTBEAT_SECONDS + 30, every=2)
    check("Sending due task beat-heartbeat" in stack.logs("beat"), "beat's log does not show it sending the heartbeat")
    check(stack.healthy("beat"), "beat's healthcheck (schedule file freshness) fails")
    say("beat sent its periodic heartbeat, the worker ran it, beat's healthcheck passes")


# --- Main -------------------------------------------------------------------------------------


def podman_compose_command() -> list[str] | None:
    beside = Path(sys.executable).parent / "podman-compose"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("podman-compose")
    return [found] if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack running (and the image) for a look")
    parser.add_argument("--rebuild-cache", action="store_true", help="rebuild the cached base and stand-in images")
    args = parser.parse_args()

    compose_cmd = podman_compose_command()
    if not shutil.which("podman") or compose_cmd is None:
        print(
            "container test SKIPPED: podman or podman-compose is not installed "
            "(apt-get install podman runc debootstrap; podman-compose comes with `make install`)."
        )
        return 0

    image = f"localhost/customer-portal:container-test-{uuid.uuid4().hex[:8]}"
    stack = Stack(compose_cmd, image)
    timings: dict[str, float] = {}
    ok = False
    try:
        ensure_base_image(args.rebuild_cache)
        start = time.monotonic()
        say(f"building {image} from the Dockerfile")
        run(["podman", "build", "--network", "host", "--from", BASE_IMAGE, "-t", image, str(ROOT)])
        timings["build"] = time.monotonic() - start
        start = time.monotonic()
        stack.up()
        timings["start"] = time.monotonic() - start
        start = time.monotonic()
        check_health_over_plain_http(stack)
        key = seed_demo(stack)
        browser = log_in(stack, key)
        check_upload_and_download(browser)
        check_extract(browser)
        check_beat(stack)
        timings["checks"] = time.monotonic() - start
        ok = True
    except Failure as failure:
        print(f"\ncontainer test FAILED: {failure}\n", file=sys.stderr)
        for service in ["migrate", "web", "worker", "beat"]:
            print(f"--- last lines of {service}'s log ---\n{stack.logs(service)[-2500:]}", file=sys.stderr)
    finally:
        if args.keep:
            say(f"--keep: the stack runs as project {stack.project} on http://127.0.0.1:{stack.port}/")
        else:
            start = time.monotonic()
            stack.down()
            timings["clean-up"] = time.monotonic() - start
    spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    say(f"{'passed' if ok else 'FAILED'} in {time.monotonic() - STARTED:.0f} s ({spent})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
