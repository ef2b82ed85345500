from support.models import ResourceLink

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
