"""portal/healthcheck.py, the containers' healthcheck commands (docker-compose.yml)."""

import os
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent.parent / "portal" / "healthcheck.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BEAT_HEARTBEAT_SECONDS": "60"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, check=False)


def test_beat_is_healthy_while_its_schedule_file_is_fresh(tmp_path):
    (tmp_path / "celerybeat-schedule.db").write_bytes(b"x")  # the suffix depends on Python's dbm
    assert run("beat", str(tmp_path / "celerybeat-schedule")).returncode == 0


def test_beat_is_unhealthy_when_its_schedule_file_is_stale(tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    schedule.write_bytes(b"x")
    old = time.time() - 600
    os.utime(schedule, (old, old))
    result = run("beat", str(schedule))
    assert result.returncode == 1
    assert "beat's schedule file is 600 s old (limit 210 s)" in result.stderr


def test_beat_is_unhealthy_without_a_schedule_file(tmp_path):
    result = run("beat", str(tmp_path / "celerybeat-schedule"))
    assert result.returncode == 1
    assert "no schedule file" in result.stderr


def test_web_is_unhealthy_when_nothing_answers():
    result = run("web", "1")
    assert result.returncode == 1
    assert "/health/ unreachable" in result.stderr
