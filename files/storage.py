"""The private storage for customer files: a local folder by default, S3 when a bucket is set.

A lazy handle, so the STORAGES setting is read when files are stored, not when models load
(and a changed setting, as in tests, takes effect).
"""

from typing import Any

from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty


class PrivateStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = storages["private"]


private_storage = PrivateStorage()


def get_private_storage() -> Any:
    return private_storage


@receiver(setting_changed)
def _forget_storage(*, setting: str, **kwargs: Any) -> None:
    if setting == "STORAGES":
        private_storage._wrapped = empty  # type: ignore[assignment]
