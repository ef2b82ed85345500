"""The home page's account cards are cached per user, and every change they show appears at once."""

from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice

from support import services as support_services
from tests.conftest import log_in
from tests.factories import UserFactory
from tokens import services as tokens
from tokens.models import Token, TokenKind, TokenType


def _factor_lines(page: str) -> list[str]:
    section = page.split("Your second factors", 1)[1].split("</ul>", 1)[0]
    return [" ".join(item.split("</li>")[0].split()) for item in section.split("<li>")[1:]]


def home(client: Client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_warm_home_page_reads_neither_tokens_nor_change_requests(member_client):
    home(member_client)

    with CaptureQueriesContext(connection) as queries:
        page = home(member_client)

    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "tokens_token" not in tables
    assert "companydetailschangerequest" not in tables
    assert "Authenticator app" in page


def test_disabling_a_token_shows_on_the_next_request(member_client, member):
    backup = Token.objects.create(
        user=member, kind=TokenKind.BACKUP, device=StaticDevice.objects.create(user=member, name="backup")
    )
    assert any("Backup codes" in line and "ACTIVE" in line for line in _factor_lines(home(member_client)))

    tokens.set_enabled(token=backup, enabled=False, acting_user=member)

    assert any("Backup codes" in line and "DISABLED" in line for line in _factor_lines(home(member_client)))


def test_adding_and_deleting_a_token_show_on_the_next_request(member_client, member):
    assert len(_factor_lines(home(member_client))) == 1

    device = StaticDevice.objects.create(user=member, name="backup")
    token = Token.objects.create(user=member, kind=TokenKind.BACKUP, device=device)
    assert len(_factor_lines(home(member_client))) == 2

    tokens.delete_token(token=token, acting_user=member)
    assert len(_factor_lines(home(member_client))) == 1


def test_a_token_locked_by_failed_codes_shows_locked_on_the_next_request(member_client, member, settings):
    settings.TOKEN_LOCK_AFTER_FAILURES = 3
    assert "LOCKED" not in home(member_client)

    device = member.totpdevice_set.get()
    for _ in range(3):
        device.throttle_increment()  # what django-otp does after each wrong code

    assert "LOCKED" in home(member_client)


def test_a_token_that_expires_shows_expired_without_any_write(member_client, member, settings, time_machine):
    # The cached card must expire on the clock the test moves: Redis would expire it on its own clock.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    time_machine.move_to(timezone.now())
    device = StaticDevice.objects.create(user=member, name="backup")
    Token.objects.create(
        user=member, kind=TokenKind.BACKUP, device=device, expires_at=timezone.now() + timedelta(seconds=1.5)
    )
    assert any("Backup codes" in line and "ACTIVE" in line for line in _factor_lines(home(member_client)))

    time_machine.shift(timedelta(seconds=1.6))

    assert any("Backup codes" in line and "EXPIRED" in line for line in _factor_lines(home(member_client)))


def test_a_colleagues_change_request_and_the_new_company_name_show_on_the_next_request(
    member_client, owner, organisation
):
    assert "Requests with support" not in home(member_client)

    change = support_services.request_company_details_change(
        acting_user=owner, changes={"name": "Acme Ltd"}, message=""
    )
    assert "Requests with support" in home(member_client)

    support = UserFactory.create(organisation=None, is_staff=True, email="support@portal.example")
    support_services.apply_change_request(change_request=change, acting_user=support)
    page = home(member_client)

    assert "Requests with support" not in page
    assert "<dt>Organisation</dt><dd>Acme Ltd</dd>" in page


def test_a_role_change_shows_on_the_next_request(member_client, member):
    assert "Your organisation" not in home(member_client)

    member.role = "admin"
    member.save(update_fields=["role"])

    assert "Your organisation" in home(member_client)


def test_each_user_gets_their_own_cards(member_client, owner, member):
    tokens.update_description(token=Token.objects.get(user=owner), description="Olivia's phone", acting_user=owner)
    home(log_in(Client(), owner))  # the owner's cards are now cached

    page = home(member_client)

    assert "Olivia's phone" not in page
    assert "<dt>Email</dt><dd>member@acme.example</dd>" in page


def test_the_labels_support_gives_token_types_show_on_the_home_page_at_once(member_client):
    assert _factor_lines(home(member_client))[0].startswith("Authenticator app")

    label = TokenType.objects.get(kind=TokenKind.TOTP)
    label.display_name = "Phone app"
    label.save()  # as support renames it in the admin

    assert _factor_lines(home(member_client))[0].startswith("Phone app")
