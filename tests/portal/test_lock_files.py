"""The lock files pin, with hashes, exactly the versions pyproject.toml names (`make lock` rewrites them)."""

import re
import tomllib
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PYPROJECT = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]


def locked(lock_file: str) -> dict[str, str]:
    text = (BASE_DIR / lock_file).read_text()
    return {normalise(name): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", requirement.strip())
        assert match, f"pyproject.toml pins every direct dependency exactly: {requirement!r}"
        pins[normalise(match[1])] = match[2]
    return pins


@pytest.mark.parametrize(
    ("lock_file", "requirements"),
    [
        ("requirements.lock", PYPROJECT["dependencies"]),
        ("requirements-dev.lock", PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_lock_file_matches_pyproject(lock_file, requirements):
    lock = locked(lock_file)
    stale = {
        name: (version, lock.get(name))
        for name, version in direct_pins(requirements).items()
        if lock.get(name) != version
    }
    assert not stale, f"{lock_file} is out of date ({{name: (pyproject, lock)}}: {stale}): run `make lock`"


@pytest.mark.parametrize("lock_file", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_package_has_a_hash(lock_file):
    entries = re.split(r"\n(?=[A-Za-z0-9])", (BASE_DIR / lock_file).read_text())
    packages = [entry for entry in entries if re.match(r"[A-Za-z0-9_.-]+==", entry)]
    assert len(packages) > 20
    without = [entry.split()[0] for entry in packages if "--hash=sha256:" not in entry]
    assert not without, f"{lock_file}: no hash for {without}"


def test_runtime_lock_holds_no_development_tool():
    runtime = locked("requirements.lock")
    for tool in ["pytest", "mypy", "ruff", "playwright", "moto", "uv", "podman-compose"]:
        assert tool not in runtime
