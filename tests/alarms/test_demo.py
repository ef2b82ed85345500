"""The demo organisation shows alarms, their history, a webhook's delivery log and a ticket about an error."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Organisation, User
from alarms.demo import seed_demo_alarms
from alarms.models import Alarm, AlarmEvent, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from support.models import Ticket
from tests.conftest import log_in, page_text


def test_demo_alarms_are_added_once(organisation, owner):
    assert seed_demo_alarms(organisation=organisation, admin=owner) is True
    assert seed_demo_alarms(organisation=organisation, admin=owner) is False

    assert sorted(Alarm.objects.values_list("name", flat=True)) == ["Burst of failures", "Tokenize failing"]
    assert [e.kind for e in AlarmEvent.objects.order_by("at")] == ["fired", "recovered"]
    assert WebhookEndpoint.objects.get().organisation == organisation
    assert sorted(WebhookDelivery.objects.values_list("status", "attempts")) == [
        (DeliveryStatus.SUCCEEDED, 1),
        (DeliveryStatus.SUCCEEDED, 2),
    ]


@pytest.mark.django_db(databases=["default", "vault"])  # seed_demo also fills the demo vault
def test_seed_demo_shows_every_alarm_page_and_a_ticket_about_an_error(client):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())

    demo = Organisation.objects.get(name="Acme Payments Ltd")
    alice = log_in(client, User.objects.get(email="alice@acme.example"))
    assert "Tokenize failing" in page_text(alice.get("/alarms/"))
    assert "Recovered" in page_text(alice.get("/alarms/history/"))
    assert "evt_demo_fired" in page_text(alice.get("/alarms/webhook/deliveries/"))
    ticket = Ticket.objects.get(organisation=demo, error_log__isnull=False)
    assert ticket.opened_by.email == "bob@acme.example"
    assert f"Ticket #{ticket.pk}" in page_text(alice.get("/errors/"))
