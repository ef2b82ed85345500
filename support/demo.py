from accounts.models import User
from dashboard import selectors as usage
from support import services
from support.forms import error_ticket_initial
from support.models import ResourceLink, Ticket

DEFAULT_LINKS = [
    ("API documentation", "API reference", "Every endpoint of the tokenization API.", "https://docs.example.com/api"),
    (
        "API documentation",
        "Getting started",
        "Your first tokenize and detokenize calls.",
        "https://docs.example.com/start",
    ),
    ("Knowledge base", "Second-factor tokens", "Setting up and replacing tokens.", "https://help.example.com/tokens"),
    ("Knowledge base", "IP whitelist", "Which addresses may call the API.", "https://help.example.com/whitelist"),
    ("Support", "Status page", "Live status of the platform.", "https://status.example.com"),
    ("Support", "Contact support", "Ways to reach support, or open a ticket here.", "https://help.example.com/contact"),
]


def seed_resource_links() -> None:
    for position, (group, title, description, url) in enumerate(DEFAULT_LINKS):
        ResourceLink.objects.get_or_create(
            title=title, group=group, defaults={"description": description, "url": url, "position": position}
        )


def seed_demo_error_ticket(*, user: User) -> Ticket | None:
    """A ticket the demo user opened with "Ask support" on their latest failed call, once."""
    if Ticket.objects.filter(organisation=user.organisation, error_log__isnull=False).exists():
        return None
    latest = usage.recent_errors(user=user, limit=1)
    if not latest:
        return None
    draft = error_ticket_initial(latest[0])
    return services.open_ticket(
        acting_user=user,
        subject=draft["subject"],
        body=draft["body"] + "\nIt happens with tokens made a few seconds before the call.",
        category=draft["category"],
        error_log=latest[0],
    )
