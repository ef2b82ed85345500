"""Container healthchecks (docker-compose.yml), standard library only so they start in a blink.

    python portal/healthcheck.py web             # GET /health/ answers 200 (portal/health.py)
    python portal/healthcheck.py beat SCHEDULE   # beat rewrote its schedule file recently

Exit status 0 = healthy, 1 = not (the reason on stderr).
"""

import glob
import os
import sys
import time
import urllib.error
import urllib.request


def check_web(port: str) -> str | None:
    # The request must name a host Django accepts; /health/ is exempt from the HTTPS redirect.
    allowed = [host.strip() for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if host.strip()]
    host = next((host.lstrip(".") for host in allowed if host != "*"), "localhost")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health/", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=8) as response:  # noqa: S310  # a fixed local URL
            return None if response.status == 200 else f"/health/ answered {response.status}"
    except urllib.error.HTTPError as error:
        return f"/health/ answered {error.code}: {error.read()[:500].decode(errors='replace')}"
    except OSError as error:
        return f"/health/ unreachable: {error}"


def check_beat(schedule: str) -> str | None:
    # The file name gets a suffix (.db, .dat, …) depending on the dbm module Python has.
    files = glob.glob(glob.escape(schedule) + "*")
    if not files:
        return f"no schedule file at {schedule}"
    age = time.time() - max(os.path.getmtime(path) for path in files)
    limit = 3 * int(os.environ.get("BEAT_HEARTBEAT_SECONDS") or 60) + 30
    return None if age <= limit else f"beat's schedule file is {age:.0f} s old (limit {limit} s)"


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "web":
        problem = check_web(argv[1] if len(argv) > 1 else "8000")
    elif len(argv) == 2 and argv[0] == "beat":
        problem = check_beat(argv[1])
    else:
        sys.stderr.write(f"{__doc__}\n")
        return 2
    if problem:
        sys.stderr.write(f"{problem}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
