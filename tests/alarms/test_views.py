"""The alarm pages: what an admin and a member see and may do, messages, and query counts."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from alarms import services
from alarms.models import Alarm, AlarmEvent, DeliveryStatus, EventKind, Metric, WebhookDelivery, WebhookEndpoint
from tests.alarms.conftest import HOOK_URL
from tests.alarms.test_alarm_services import data
from tests.conftest import log_in, page_text
from tests.factories import UserFactory

NEW_ALARM = {
    "name": "Tokenize failing",
    "method": "Tokenize",
    "metric": "error_rate",
    "window_minutes": "15",
    "threshold": "2.5",
    "enabled": "on",
}


def _alarm(owner, **changes) -> Alarm:
    assert owner.organisation is not None
    return services.create_alarm(organisation=owner.organisation, data=data(**changes), acting_user=owner)


def test_the_main_navigation_leads_to_the_alarms(member_client):
    page = page_text(member_client.get("/"))

    assert '<a href="/alarms/"' in page


def test_an_admin_adds_an_alarm_that_emails_a_colleague(owner_client, owner, member):
    form = owner_client.get("/alarms/add/")
    assert form.status_code == 200
    assert "Max Member (member@acme.example)" in page_text(form)

    response = owner_client.post("/alarms/add/", {**NEW_ALARM, "recipients": [str(member.pk)]}, follow=True)

    assert response.redirect_chain == [("/alarms/", 302)]
    page = page_text(response)
    assert (
        "The alarm “Tokenize failing” is set: it fires when the error rate of Tokenize ≥ 2.5% over 15 minutes."
    ) in page
    alarm = Alarm.objects.get()
    assert list(alarm.recipients.all()) == [member]
    assert "not checked yet" in page


def test_the_form_suggests_the_methods_the_organisation_called(owner_client, organisation):
    from dashboard.models import DailyMethodCount

    DailyMethodCount.objects.create(organisation=organisation, method="Detokenize", day=datetime.now(UTC).date())

    page = page_text(owner_client.get("/alarms/add/"))

    assert '<datalist id="known-methods"><option value="Detokenize"></datalist>' in page


def test_a_bad_alarm_is_shown_again_with_the_reasons_and_nothing_is_stored(owner_client):
    response = owner_client.post(
        "/alarms/add/", {**NEW_ALARM, "name": "", "threshold": "250", "window_minutes": "7", "recipients": ["99999"]}
    )

    assert response.status_code == 400
    page = page_text(response)
    assert "Give the alarm a name" in page
    assert "Select a valid choice. 7 is not one of the available choices." in page
    assert "Select a valid choice. 99999 is not one of the available choices." in page
    assert not Alarm.objects.exists()

    response = owner_client.post("/alarms/add/", {**NEW_ALARM, "threshold": "250"})
    assert response.status_code == 400
    assert "An error rate is a percentage above 0 and at most 100" in page_text(response)


def test_an_admin_changes_and_deletes_an_alarm(owner_client, owner):
    alarm = _alarm(owner)

    form = page_text(owner_client.get(f"/alarms/{alarm.pk}/edit/"))
    assert 'value="2.5"' in form  # the threshold as typed, without the stored zeros
    response = owner_client.post(f"/alarms/{alarm.pk}/edit/", {**NEW_ALARM, "metric": "error_count", "threshold": "40"})
    assert response.status_code == 302
    alarm.refresh_from_db()
    assert (alarm.metric, alarm.threshold, alarm.recipients.count()) == (Metric.ERROR_COUNT, Decimal(40), 0)

    confirm = owner_client.get(f"/alarms/{alarm.pk}/delete/")
    assert "Delete the alarm “Tokenize failing”?" in page_text(confirm)
    response = owner_client.post(f"/alarms/{alarm.pk}/delete/", follow=True)
    assert "The alarm “Tokenize failing” is deleted. Its history stays." in page_text(response)
    assert not Alarm.objects.exists()


def test_a_member_reads_alarms_and_history_but_changes_nothing(member_client, owner):
    alarm = _alarm(owner)

    assert "Tokenize failing" in page_text(member_client.get("/alarms/"))
    assert member_client.get("/alarms/history/").status_code == 200
    for path in (
        "/alarms/add/",
        f"/alarms/{alarm.pk}/edit/",
        f"/alarms/{alarm.pk}/delete/",
        "/alarms/webhook/",
        "/alarms/webhook/remove/",
        "/alarms/webhook/deliveries/",
    ):
        assert member_client.get(path).status_code == 403, path
        assert member_client.post(path, NEW_ALARM).status_code == 403, path
    assert member_client.post("/alarms/webhook/test/").status_code == 403
    assert member_client.post("/alarms/webhook/rotate/").status_code == 403
    assert Alarm.objects.get().name == "Tokenize failing"
    page = page_text(member_client.get("/alarms/"))
    assert "/alarms/add/" not in page and "Delivery log" not in page


def test_another_organisation_neither_sees_nor_reaches_the_alarms(outsider_client, owner):
    alarm = _alarm(owner)
    _event(alarm)

    assert "Tokenize failing" not in page_text(outsider_client.get("/alarms/"))
    assert "Tokenize failing" not in page_text(outsider_client.get("/alarms/history/"))
    assert outsider_client.get(f"/alarms/{alarm.pk}/edit/").status_code == 404
    assert outsider_client.post(f"/alarms/{alarm.pk}/delete/").status_code == 404
    assert Alarm.objects.filter(pk=alarm.pk).exists()


def _event(alarm: Alarm, *, at: datetime | None = None, kind: str = EventKind.FIRED) -> AlarmEvent:
    return AlarmEvent.objects.create(
        organisation=alarm.organisation,
        alarm=alarm,
        alarm_name=alarm.name,
        kind=kind,
        at=at or datetime(2026, 11, 26, 10, 5, tzinfo=UTC),
        method=alarm.method,
        metric=alarm.metric,
        window_minutes=alarm.window_minutes,
        threshold=alarm.threshold,
        value=Decimal("3.25"),
        calls=400,
        errors=13,
    )


def test_the_history_lists_what_each_alarm_read(member_client, owner):
    alarm = _alarm(owner)
    _event(alarm)
    _event(alarm, at=datetime(2026, 11, 26, 10, 30, tzinfo=UTC), kind=EventKind.RECOVERED)

    page = page_text(member_client.get("/alarms/history/"))

    row = r"<tr>\s*<td class=\"nowrap\">(.*?)</td>\s*<td>(.*?)</td>\s*<td>.*?>(Fired|Recovered)<"
    rows = re.findall(row, page, re.S)
    assert rows == [
        ("26 Nov 2026, 10:30", "Tokenize failing", "Recovered"),  # the portal's one date-time format
        ("26 Nov 2026, 10:05", "Tokenize failing", "Fired"),
    ]
    assert '3.25% <span class="muted">(13 failed of 400 calls)</span>' in page


def _history(owner, rows: int) -> None:
    alarms = [_alarm(owner, name=f"Alarm {n}", recipient_ids=[owner.pk]) for n in range(Alarm.objects.count(), rows)]
    alarm = alarms[-1] if alarms else Alarm.objects.latest("id")
    start = AlarmEvent.objects.count()
    for n in range(start, start + rows * 3):
        event = _event(alarm, at=datetime(2026, 11, 26, tzinfo=UTC) + timedelta(minutes=n))
        WebhookDelivery.objects.create(
            organisation=owner.organisation,
            event_id=f"evt_{n}",
            event_type="alarm.fired",
            alarm_event=event,
            body="{}",
            created_at=event.at,
        )


@pytest.mark.parametrize("path", ["/alarms/", "/alarms/history/", "/alarms/webhook/deliveries/", "/alarms/webhook/"])
def test_pages_read_the_same_number_of_queries_with_few_rows_or_many(owner_client, owner, endpoint, path):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(path).status_code == 200
        return len(captured.captured_queries)

    _history(owner, 2)
    few = queries()
    _history(owner, 20)  # 20 alarms with recipients, 60 events and deliveries: more than a page
    many = queries()

    assert few == many <= 12


# --- The webhook pages ---------------------------------------------------------------------------


def test_an_admin_sets_up_the_webhook_and_sees_its_secret_once(owner_client, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/alarms/webhook/", {"url": HOOK_URL}, follow=True)

    page = page_text(response)
    secret = WebhookEndpoint.objects.get().secret
    assert f"Alarm events go to {HOOK_URL}." in page
    assert secret in page and "it is shown only this once" in page
    assert response["Cache-Control"].startswith("max-age=0")
    assert secret not in page_text(owner_client.get("/alarms/webhook/"))  # never again
    assert [m.subject for m in mail.outbox] == ["Alarm webhook of Acme Payments Ltd: added"]


def test_an_address_inside_our_network_is_refused_with_the_reason(owner_client, hosts):
    hosts["intranet.acme.example"] = ["192.168.10.1"]

    response = owner_client.post("/alarms/webhook/", {"url": "https://intranet.acme.example/hook"})

    assert response.status_code == 400
    assert (
        "intranet.acme.example resolves to 192.168.10.1, which is a private or special-purpose address. "
        "Webhooks are only sent to public internet addresses."
    ) in page_text(response)
    assert not WebhookEndpoint.objects.exists()


def test_rotating_shows_the_new_secret_once(owner_client, endpoint):
    response = owner_client.post("/alarms/webhook/rotate/", {"stop_previous": "on"}, follow=True)

    endpoint.refresh_from_db()
    page = page_text(response)
    assert "A new signing secret is made; the old one no longer signs." in page
    assert endpoint.secret in page
    assert endpoint.previous_secret == ""
    assert endpoint.secret not in page_text(owner_client.get("/alarms/webhook/"))


def test_removing_the_webhook_asks_first(owner_client, endpoint):
    assert "Remove the alarm webhook?" in page_text(owner_client.get("/alarms/webhook/remove/"))

    response = owner_client.post("/alarms/webhook/remove/", follow=True)

    assert "The webhook is removed: alarm events are no longer posted." in page_text(response)
    assert not WebhookEndpoint.objects.exists()


def test_a_test_event_is_sent_and_its_delivery_shown_in_the_log(
    owner_client, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [503]

    with django_capture_on_commit_callbacks(execute=True):  # the event goes once the request's work commits
        sent = owner_client.post("/alarms/webhook/test/")
    response = owner_client.get(sent.url)

    assert sent.url == "/alarms/webhook/deliveries/"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    page = page_text(response)
    assert f"A test event ({delivery.event_id}) is on its way" in page
    row = re.search(r'<table class="table" id="deliveries">.*?</table>', page, re.S)
    assert row is not None
    cells = [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row[0], re.S)]
    assert cells[1] == f"webhook.test {delivery.event_id}"
    assert cells[2].startswith("Will retry The receiver answered 503. Next attempt ")
    assert cells[3:5] == ["1", "503"]
    assert owner_client.get("/alarms/webhook/test/").status_code == 405


def test_the_test_button_is_limited_and_says_how_long_to_wait(owner_client, endpoint, receiver, settings):
    settings.WEBHOOK_TESTS_PER_ORGANISATION_PER_HOUR = 1
    assert owner_client.post("/alarms/webhook/test/").status_code == 302

    response = owner_client.post("/alarms/webhook/test/")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    said = r"Too many test events from your organisation in the last hour\. Try again in \d+"
    assert re.search(said, page_text(response))
    assert WebhookDelivery.objects.count() == 1


def test_no_test_without_a_webhook(owner_client):
    response = owner_client.post("/alarms/webhook/test/", follow=True)

    assert "Set up your webhook first." in page_text(response)
    assert not WebhookDelivery.objects.exists()


def test_another_admin_of_the_organisation_is_not_shown_the_secret(owner_client, owner):
    owner_client.post("/alarms/webhook/", {"url": HOOK_URL})
    colleague = UserFactory.create(organisation=owner.organisation, role="admin")

    page = page_text(log_in(Client(), colleague).get("/alarms/webhook/"))

    assert WebhookEndpoint.objects.get().secret not in page
    assert HOOK_URL in page
