from django.conf import settings
from django.db import models

from files.storage import get_private_storage


class Category(models.TextChoices):
    QUESTION = "question", "Question"
    PROBLEM = "problem", "Problem"
    COMPANY_DETAILS = "company_details", "Company-details change"
    COMPLIANCE = "compliance", "Compliance"


class Status(models.TextChoices):
    OPEN = "open", "Open"
    WAITING_CUSTOMER = "waiting_customer", "Waiting on customer"
    WAITING_SUPPORT = "waiting_support", "Waiting on support"
    CLOSED = "closed", "Closed"


class Ticket(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="tickets")
    subject = models.CharField(max_length=200)
    body = models.TextField(max_length=10_000)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.QUESTION)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    opened_by_support = models.BooleanField(default=False)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
        limit_choices_to={"is_staff": True},
    )
    participants = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="tickets")
    change_request = models.OneToOneField(
        "accounts.CompanyDetailsChangeRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="ticket"
    )
    # The failed API call the ticket asks about ("Ask support" on the error log). No database
    # constraint and nothing done on delete: the error log's retention deletes rows in bulk, and a
    # ticket outlives its row (it then says the row is gone; error_request_id still names the call).
    error_log = models.ForeignKey(
        "dashboard.ErrorLog",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    error_request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["organisation", "-updated_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"


class Comment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    from_support = models.BooleanField(default=False)
    body = models.TextField(max_length=10_000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Comment on {self.ticket}"


class Attachment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="tickets/%Y/%m/", storage=get_private_storage, max_length=300)
    name = models.CharField(max_length=150)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name


class ResourceLink(models.Model):
    """A link on the Resources page, managed by support."""

    group = models.CharField(max_length=60, help_text='For example "API documentation", "Knowledge base", "Support".')
    title = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    url = models.URLField(max_length=500)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["group", "position", "title"]

    def __str__(self) -> str:
        return self.title
