"""HTML fragments cached under version numbers that writes bump (SPEC §9: the dashboard).

A fragment is stored with the numbers of the versions it depends on (an organisation's usage,
a user's account, …) and served only while they are current. A write bumps the versions it
affects, so the next read draws the fragment anew; nothing has to find and delete old entries.

Writers bump twice: at once, and again after their transaction commits. The second bump covers a
read that started before the commit, saw the old rows and stored them under the first new
number; the first keeps a reader in the same transaction (and the test suite's transactions)
from being served the old fragment.
"""

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction

KEY_PREFIX = "fragment-version:"
T = TypeVar("T")


def _fresh() -> int:
    # Random, not a count from 1: a version lost from the cache (evicted, flushed) or set by two
    # writers at once must never take a number an old fragment was stored under.
    return secrets.randbits(62)


def _version_keys(names: Iterable[str]) -> dict[str, str]:
    return {name: KEY_PREFIX + name for name in names}


def _complete(keys: dict[str, str], found: dict[str, Any]) -> dict[str, int]:
    missing = [name for name, key in keys.items() if key not in found]
    for name in missing:
        cache.add(keys[name], _fresh(), timeout=None)
    if missing:
        found = {**found, **cache.get_many([keys[name] for name in missing])}
    return {name: int(found.get(key, 0)) for name, key in keys.items()}


def _bump_now(names: Iterable[str]) -> None:
    # A new random number for each, in one round trip (a usage batch may touch a thousand
    # organisations; one INCR each cost seconds).
    cache.set_many({KEY_PREFIX + name: _fresh() for name in set(names)}, timeout=None)


def bump(names: Iterable[str]) -> None:
    """Make fragments depending on these versions render anew, now and after the commit."""
    names = set(names)
    if names:
        _bump_now(names)
        transaction.on_commit(lambda: _bump_now(names))


@dataclass(frozen=True)
class Fragment:
    key: str  # where it is cached: everything it depends on but the versions (day, language, …)
    depends_on: tuple[str, ...]  # the names of the versions it was drawn under


def cached_many(fragments: dict[str, Fragment], render: Callable[[str], tuple[T, int]]) -> dict[str, T]:
    """Each fragment by name, current ones from the cache; the rest drawn and stored.

    One cache round trip reads the fragments and the versions together: a stored fragment keeps
    the numbers of the versions it was drawn under and is served only while they are current.
    ``render`` draws one fragment by name and says how many seconds it may be served (0: do not
    store it).
    """
    version_keys = _version_keys({name for fragment in fragments.values() for name in fragment.depends_on})
    found = cache.get_many([*version_keys.values(), *(fragment.key for fragment in fragments.values())])
    current = _complete(version_keys, found)
    drawn: dict[str, T] = {}
    for name, fragment in fragments.items():
        stamp = tuple(current[version] for version in fragment.depends_on)
        stored = found.get(fragment.key)
        if stored is not None and stored[0] == stamp:
            drawn[name] = stored[1]
            continue
        drawn[name], timeout = render(name)
        if timeout > 0:
            cache.set(fragment.key, (stamp, drawn[name]), timeout)
    return drawn
