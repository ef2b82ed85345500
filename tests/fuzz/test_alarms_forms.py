"""AlarmForm at /alarms/add/ and /alarms/<id>/edit/, WebhookForm at /alarms/webhook/ and
RotateSecretForm at /alarms/webhook/rotate/, posted by the organisation's admin."""

from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import event, given
from hypothesis import strategies as st

from alarms import addresses
from alarms.forms import RotateSecretForm
from alarms.models import WINDOW_CHOICES, Alarm, WebhookEndpoint
from audit.models import AuditEvent
from tests.alarms.hosts import use_hosts
from tests.fuzz.checks import assert_refused, counts, sent
from tests.fuzz.strategies import FUZZ, NUMBERS, printable_text, submissions

WINDOWS = [str(minutes) for minutes, _ in WINDOW_CHOICES]
THRESHOLD_LIKE = st.sampled_from(
    ["0", "0.00", "-1", "100", "100.00", "100.01", "2.555", "1e2", "1E-2", "NaN", "-Infinity", "1_000", "١٢", "²"]
)


@st.composite
def alarms(draw: st.DrawFn) -> dict[str, object]:
    metric = draw(st.sampled_from(["error_count", "error_rate"]))
    if metric == "error_count":
        threshold = str(draw(st.integers(min_value=1, max_value=10**9)))
    else:
        threshold = str(Decimal(draw(st.integers(min_value=1, max_value=10_000))) / 100)
    data: dict[str, object] = {
        "name": draw(printable_text),
        "method": draw(st.sampled_from(["", "Tokenize", "Detokenize", "v2.Validate-all_1"])),
        "metric": metric,
        "window_minutes": draw(st.sampled_from(WINDOWS)),
        "threshold": threshold,
    }
    recipients = draw(st.lists(st.sampled_from(["{owner}", "{member}"]), unique=True))
    if recipients:
        data["recipients"] = recipients
    if draw(st.booleans()):
        data["enabled"] = "on"
    return data


@pytest.fixture
def no_dns(monkeypatch):
    return use_hosts(monkeypatch)


@FUZZ
@given(submission=submissions(alarms(), tricky=THRESHOLD_LIKE | NUMBERS | st.just("{outsider}")))
def test_an_alarm_is_stored_as_sent_or_refused_with_a_reason(owner, member, outsider, owner_client, submission):
    Alarm.objects.all().delete()  # each example starts with none: no name taken, no limit reached
    submission = submission.filled(owner=str(owner.pk), member=str(member.pk), outsider=str(outsider.pk))
    before = counts(Alarm, AuditEvent)

    response = submission.post(owner_client, "/alarms/add/")

    stored = response.status_code == 302
    event("stored" if stored else "refused")
    if stored:
        assert response.url == "/alarms/"
        assert counts(Alarm, AuditEvent) == {key: count + 1 for key, count in before.items()}
        alarm = Alarm.objects.get()
        assert alarm.name == sent(response, "name").strip()
        assert alarm.method == sent(response, "method").strip()
        assert (alarm.metric, str(alarm.window_minutes)) == (sent(response, "metric"), sent(response, "window_minutes"))
        assert alarm.threshold == Decimal(sent(response, "threshold").strip())
        chosen = {int(pk) for pk in response.wsgi_request.POST.getlist("recipients")}
        assert {p.pk for p in alarm.recipients.all()} == chosen <= {owner.pk, member.pk}
        assert alarm.enabled == bool(sent(response, "enabled"))
    else:
        assert not submission.pristine, "a well-formed alarm was refused"
        assert_refused(response)
        assert counts(Alarm, AuditEvent) == before


@FUZZ
@given(submission=submissions(alarms(), tricky=THRESHOLD_LIKE | NUMBERS))
def test_changing_an_alarm_saves_what_was_sent_or_leaves_it_as_it_was(owner, member, owner_client, submission):
    Alarm.objects.all().delete()
    from alarms import services

    alarm = services.create_alarm(
        organisation=owner.organisation,
        data=services.AlarmInput(
            name="Original", method="", metric="error_count", window_minutes=5, threshold="1", recipient_ids=[]
        ),
        acting_user=owner,
    )
    submission = submission.filled(owner=str(owner.pk), member=str(member.pk))
    before = Alarm.objects.filter(pk=alarm.pk).values().get()

    response = submission.post(owner_client, f"/alarms/{alarm.pk}/edit/")

    after = Alarm.objects.filter(pk=alarm.pk).values().get()
    if response.status_code == 302:
        assert after["name"] == sent(response, "name").strip()
        assert after["threshold"] == Decimal(sent(response, "threshold").strip())
    else:
        assert not submission.pristine, "a well-formed change was refused"
        assert_refused(response)
        assert after == before


# --- The webhook ---------------------------------------------------------------------------------

URL_LIKE = st.sampled_from(
    [
        "http://hooks.acme.example/portal",
        "https://localhost/",
        "https://127.0.0.1:8000/",
        "https://[::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://hooks.acme.example:0/",
        "https://hooks.acme.example:65536/",
        "https://user@hooks.acme.example/",
        "https://hooks.acme.example/#x",
        "https://hooks.acme.example\\@127.0.0.1/",
        "https://hooks.acme.example%2f@127.0.0.1/",
        "https://hooks。acme。example/",
        "https://xn--/",
        "https://" + "a" * 64 + ".example/",
        "https://unknown.acme.example/",
        "//hooks.acme.example/",
        "javascript:alert(1)",
    ]
)
path_text = st.text(st.characters(categories=("L", "N"), max_codepoint=0x7E), max_size=20)


@st.composite
def webhooks(draw: st.DrawFn) -> dict[str, str]:
    host = draw(st.sampled_from(["hooks.acme.example", "HOOKS.Acme.Example", "93.184.215.14", "[2606:4700::1111]"]))
    port = draw(st.sampled_from(["", ":443", ":8443"]))
    query = draw(st.sampled_from(["", "?source=portal", "?a=1&b=2"]))
    return {"url": f"https://{host}{port}/{draw(path_text)}{query}"}


@FUZZ
@given(submission=submissions(webhooks(), tricky=URL_LIKE))
def test_the_webhook_is_saved_only_for_a_public_https_address(owner, owner_client, no_dns, submission):
    WebhookEndpoint.objects.all().delete()
    before = counts(WebhookEndpoint, AuditEvent)

    response = submission.post(owner_client, "/alarms/webhook/")

    stored = response.status_code == 302
    event("stored" if stored else "refused")
    if stored:
        endpoint = WebhookEndpoint.objects.get()
        target = addresses.check(sent(response, "url"))  # what the portal would connect to
        assert endpoint.url == target.url
        assert addresses.refusal(target.address) is None
        assert counts(WebhookEndpoint, AuditEvent) == {key: count + 1 for key, count in before.items()}
    else:
        assert not submission.pristine, "a public https address was refused"
        assert_refused(response)
        assert counts(WebhookEndpoint, AuditEvent) == before


@FUZZ
@given(submission=submissions({"stop_previous": "on"}))
def test_rotating_always_makes_a_new_secret_and_keeps_the_old_one_only_when_asked(
    owner, owner_client, no_dns, submission
):
    endpoint, _ = WebhookEndpoint.objects.get_or_create(
        organisation=owner.organisation,
        defaults={"url": "https://hooks.acme.example/", "secret": "whsec_old", "secret_created_at": timezone.now()},
    )
    old = endpoint.secret

    response = submission.post(owner_client, "/alarms/webhook/rotate/")

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    form = RotateSecretForm(response.wsgi_request.POST)  # a checkbox as Django reads one ("0", "false": off)
    stop = form.is_valid() and form.cleaned_data["stop_previous"]
    assert endpoint.previous_secret == ("" if stop else old)
