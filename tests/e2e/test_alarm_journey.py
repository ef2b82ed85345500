"""An admin sets an error alarm and a webhook in a browser; the platform reports failures over HTTP;
the alarm fires, then recovers: emails, signed webhook events, history and delivery log (issue 16 #2).

The webhook receiver is the test's (tests/alarms/receiver.py: it checks each signature with the
README's recipe); ``responses`` stands in for the internet between the portal and it, and a hosts
mapping for DNS. Everything else is real: the live server, the platform's HTTP calls, the browser.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import responses
from playwright.sync_api import Page, expect

from accounts.models import Organisation
from alarms import services
from alarms.models import AlarmEvent, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from alarms.tasks import evaluate_alarms
from platform_api.services import issue_key
from tests.alarms.hosts import use_hosts
from tests.alarms.receiver import Receiver
from tests.e2e.journeys import log_in
from tests.e2e.test_usage_journey import call, failed, ok
from tests.factories import AdminFactory, OrganisationFactory, UserFactory

HOOK_URL = "https://hooks.acme.example/portal"
CONDITION = "failed calls of Tokenize ≥ 3 over 15 minutes"


def open_tab(page: Page, name: str, heading: str) -> None:
    page.get_by_role("navigation", name="Alarm pages").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


@pytest.mark.browser
def test_admin_sets_an_alarm_and_webhook_that_fire_on_reported_failures_then_recover(
    live_server, transactional_db, page: Page, console_messages, mailoutbox, monkeypatch
):
    use_hosts(monkeypatch)  # hooks.acme.example is a public address; no DNS server is asked
    organisation: Organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    UserFactory.create(organisation=organisation, email="max@acme.example", full_name="Max Member")
    _, key = issue_key(name="Gateway", acting_user=None)

    def failing(minutes_ago: int) -> dict[str, object]:
        at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        return failed(organisation.public_id, "Tokenize", at, "VAULT_UNAVAILABLE", "Busy.", f"r{minutes_ago}")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as internet:
        receiver = Receiver(internet, HOOK_URL)

        # The admin defines an alarm on Tokenize failures, emailed to herself and Max.
        log_in(page, live_server.url, owner)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Alarms").click()
        expect(page.get_by_role("heading", name="Error alarms")).to_be_visible()
        expect(page.get_by_text("No alarms yet")).to_be_visible()
        page.get_by_role("link", name="Add an alarm").click()
        expect(page.get_by_role("heading", name="Add an alarm")).to_be_visible()
        page.get_by_label("Name", exact=True).fill("Tokenize failing")
        page.get_by_label("Method (optional)").fill("Tokenize")
        page.get_by_label("Watch").select_option(label="Failed calls")
        page.get_by_label("Over the last").select_option(label="15 minutes")
        page.get_by_label("Fire at or above").fill("3")
        expect(page.get_by_label("Olivia Owner (olivia@acme.example)")).to_be_checked()
        page.get_by_label("Max Member (max@acme.example)").check()
        page.get_by_role("button", name="Add the alarm").click()
        expect(page.get_by_role("status").filter(has_text=f"it fires when the {CONDITION}.")).to_be_visible()
        row = page.get_by_role("table").get_by_role("row").filter(has_text="Tokenize failing")
        expect(row.get_by_role("cell").nth(1)).to_have_text(CONDITION)
        expect(row.get_by_role("cell").nth(2)).to_have_text("OK")
        expect(row.get_by_role("cell").nth(3)).to_have_text("not checked yet")

        # The webhook: an address inside the network is refused; a public one gets a secret, shown once.
        open_tab(page, "Webhook", "Alarm webhook")
        page.get_by_label("HTTPS address").fill("https://10.0.0.5/hook")
        page.get_by_role("button", name="Set up the webhook").click()
        expect(page.get_by_text("10.0.0.5 is a private or special-purpose address.")).to_be_visible()
        assert not WebhookEndpoint.objects.exists()
        page.get_by_label("HTTPS address").fill(HOOK_URL)
        page.get_by_role("button", name="Set up the webhook").click()
        expect(page.get_by_role("status").filter(has_text=f"Alarm events go to {HOOK_URL}.")).to_be_visible()
        receiver.secret = page.get_by_test_id("webhook-secret").inner_text()
        assert receiver.secret == WebhookEndpoint.objects.get().secret
        page.reload()
        expect(page.get_by_test_id("webhook-secret")).to_have_count(0)

        # A test event: signed, delivered, in the log.
        page.get_by_role("button", name="Send a test event").click()
        expect(page.get_by_role("heading", name="Webhook delivery log")).to_be_visible()
        deliveries = page.get_by_role("table", name="Webhook deliveries of Acme Payments Ltd").locator("tbody tr")
        expect(deliveries).to_have_count(1)
        expect(deliveries.first).to_contain_text("webhook.test")
        expect(deliveries.first.get_by_role("cell").nth(2)).to_have_text("Delivered")
        expect(deliveries.first.get_by_role("cell").nth(4)).to_have_text("200")
        assert [(r.event["type"], r.verified) for r in receiver.received] == [("webhook.test", True)]

        # The platform reports four failed Tokenize calls; beat evaluates the alarms.
        events = [ok(organisation.public_id, "Tokenize", datetime.now(UTC) - timedelta(minutes=6))]
        events += [failing(n) for n in range(1, 5)]
        status, _, _ = call(live_server.url + "/api/platform/v1/usage", key, body={"batch_id": "b1", "events": events})
        assert status == 200
        mailoutbox.clear()
        assert evaluate_alarms.delay().get()["fired"] == 1

        subject = f"Alarm “Tokenize failing” fired: 4 ({CONDITION})"
        assert sorted((m.to[0], m.subject) for m in mailoutbox) == [
            ("max@acme.example", subject),
            ("olivia@acme.example", subject),
        ]
        fired = receiver.received[-1]
        assert (fired.event["type"], fired.verified) == ("alarm.fired", True)
        assert fired.event["data"]["reading"]["errors"] == 4

        # Twenty minutes on, the failures have left the window: it recovers.
        services.evaluate_alarms(now=datetime.now(UTC) + timedelta(minutes=20))
        assert [e.kind for e in AlarmEvent.objects.order_by("at")] == ["fired", "recovered"]
        recovered = receiver.received[-1]
        assert (recovered.event["type"], recovered.verified) == ("alarm.recovered", True)

        open_tab(page, "History", "Alarm history")
        history = page.get_by_role("table", name="Alarm history of Acme Payments Ltd").locator("tbody tr")
        expect(history).to_have_count(2)
        expect(history.nth(0)).to_contain_text("Recovered")
        expect(history.nth(1)).to_contain_text("Fired")
        expect(history.nth(1)).to_contain_text("4 (4 failed of 5 calls)")
        open_tab(page, "Delivery log", "Webhook delivery log")
        expect(deliveries).to_have_count(3)
        expect(deliveries.get_by_text("Delivered", exact=True)).to_have_count(3)
        assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}

    csp_reports = [m for m in console_messages if re.search(r"content.security.policy", m, re.IGNORECASE)]
    assert csp_reports == []
    assert [m for m in console_messages if m.startswith("pageerror:")] == []
