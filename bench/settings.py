"""The portal's settings plus one URL: the benchmark's signed-in trivial view (bench/urls.py)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
