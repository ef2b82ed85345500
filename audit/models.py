from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One security-relevant event: who did what, to whom or what, when, from where.

    Rows are only ever added; neither the portal nor the admin can change or delete them.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=254, help_text="The actor's email when it happened.")
    action = models.CharField(max_length=64, db_index=True)
    target_label = models.CharField(max_length=254, blank=True)
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Whose account or token the event concerns.",
    )
    subject_label = models.CharField(
        max_length=254, blank=True, help_text="The email of that account when it happened (kept if it is removed)."
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["organisation", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_label}"
