from django.conf import settings
from django.db import models


class PlatformKey(models.Model):
    """A bearer key support issues to the platform. Only a SHA-256 of the key is stored."""

    name = models.CharField(max_length=100, help_text="Which platform system uses the key.")
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text="Shown to identify the key.")
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
