"""Phone numbers as people see and type them (issue 19): a country beside the number, every stored
number shown as "+44 7400 123456", and only "•••• •• 3456" before the login's second factor."""

import re

import pytest
from django.contrib.contenttypes.models import ContentType

from accounts.forms import ContactNumbersForm, PhoneNumberForm
from accounts.models import User
from accounts.phones import format_international, mask_phone_number, region_choices
from tests.conftest import page_text
from tests.factories import PASSWORD
from tokens.models import SmsDevice, Token, TokenKind


def selected_country(page: str, name: str) -> str:
    """The country the page's selector beside ``name`` shows."""
    select = re.search(rf'<select name="{name}_country"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None, f"no country selector for {name}"
    chosen = re.findall(r'<option value="([A-Z]{2})" selected>', select.group(1))
    assert len(chosen) == 1, chosen
    return chosen[0]


def sms_token(user: User, number: str) -> Token:
    device = SmsDevice.objects.create(user=user, name="sms", number=number, confirmed=True)
    return Token.objects.create(
        user=user, kind=TokenKind.SMS, device_type=ContentType.objects.get_for_model(device), device_id=device.pk
    )


# --- The country selector ---------------------------------------------------------------------


def test_country_list_names_every_region_with_its_calling_code():
    choices = dict(region_choices())

    assert choices["GB"] == "United Kingdom (+44)"
    assert choices["FR"] == "France (+33)"
    assert choices["XK"] == "Kosovo (+383)"  # phonenumbers has no English name for it
    labels = [label for _, label in region_choices()]
    assert labels.index("Åland Islands (+358)") < labels.index("Albania (+355)")  # by name, accents aside


@pytest.mark.parametrize("region", ["GB", "FR"])
def test_selector_starts_at_the_default_region(settings, region):
    settings.PHONENUMBER_DEFAULT_REGION = region

    html = str(PhoneNumberForm())

    assert selected_country(html, "number") == region
    assert 'aria-label="Mobile number: country"' in html


def test_national_number_is_read_in_the_chosen_country():
    form = PhoneNumberForm({"number_country": "FR", "number": "06 12 34 56 78"})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["number"] == "+33612345678"


def test_number_with_its_country_code_keeps_it_whatever_the_selector_says():
    form = PhoneNumberForm({"number_country": "FR", "number": "+44 7400 123456"})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["number"] == "+447400123456"


def test_number_posted_without_a_country_is_read_in_the_default_region(settings):
    settings.PHONENUMBER_DEFAULT_REGION = "GB"

    form = PhoneNumberForm({"number": "07400 123456"})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["number"] == "+447400123456"


def test_national_number_in_the_wrong_country_is_refused_with_the_reason():
    form = PhoneNumberForm({"number_country": "US", "number": "07400 123456"})

    assert not form.is_valid()
    assert form.errors["number"] == ["This phone number is not valid: check the country code and the number of digits."]


def test_unknown_country_is_refused():
    form = PhoneNumberForm({"number_country": "ZZ", "number": "07400 123456"})

    assert not form.is_valid()
    assert "Select a valid choice. ZZ is not one of the available choices." in form.errors["number"]


def test_missing_number_is_required_but_optional_numbers_may_stay_empty():
    required = PhoneNumberForm({"number_country": "GB", "number": ""})
    optional = ContactNumbersForm({"telephone_country": "GB", "telephone": "", "mobile_country": "FR", "mobile": ""})

    assert required.errors["number"] == ["This field is required."]
    assert optional.is_valid(), optional.errors
    assert optional.cleaned_data == {"telephone": "", "mobile": ""}


# --- Profile ----------------------------------------------------------------------------------


def test_profile_saves_a_number_typed_in_the_chosen_country_and_shows_it_international(member_client, member):
    response = member_client.post(
        "/profile/",
        {"save_numbers": "1", "telephone_country": "FR", "telephone": "01 23 45 67 89", "mobile": ""},
        follow=True,
    )

    assert "Your numbers are saved." in page_text(response)
    member.refresh_from_db()
    assert member.telephone == "+33123456789"
    page = page_text(response)
    assert 'value="+33 1 23 45 67 89"' in page
    assert selected_country(page, "telephone") == "FR"
    assert selected_country(page, "mobile") == "GB"  # empty: the default region


def test_profile_refusal_keeps_what_was_typed_and_the_country_chosen(member_client, member):
    response = member_client.post(
        "/profile/", {"save_numbers": "1", "telephone_country": "DE", "telephone": "12", "mobile": ""}
    )

    assert response.status_code == 400
    page = page_text(response)
    assert "This phone number is not valid" in page
    assert selected_country(page, "telephone") == "DE"
    assert 'value="12"' in page
    member.refresh_from_db()
    assert member.telephone == ""


# --- Where numbers are shown ------------------------------------------------------------------


def test_users_page_shows_a_members_numbers_international(owner_client, member):
    User.objects.filter(pk=member.pk).update(telephone="+442079460958", mobile="+33612345678")

    page = page_text(owner_client.get(f"/users/{member.pk}/"))

    assert "<dt>Telephone</dt><dd>+44 20 7946 0958</dd>" in page
    assert "<dt>Mobile</dt><dd>+33 6 12 34 56 78</dd>" in page


def test_users_page_says_when_there_is_no_number(owner_client, member):
    page = page_text(owner_client.get(f"/users/{member.pk}/"))

    assert "<dt>Telephone</dt><dd>—</dd>" in page


def test_token_pages_show_the_number_international(member_client, member):
    token = sms_token(member, "+12125550100")

    assert "+1 212 555 0100" in page_text(member_client.get(f"/tokens/{token.pk}/"))
    assert "+1 212 555 0100" in page_text(member_client.get("/tokens/"))


def test_admin_shows_numbers_international_beside_their_country(support_client, member):
    User.objects.filter(pk=member.pk).update(telephone="+33123456789", mobile="+447400123456")

    page = page_text(support_client.get(f"/admin/accounts/user/{member.pk}/change/"))

    assert 'value="+33 1 23 45 67 89"' in page
    assert 'value="+44 7400 123456"' in page
    assert selected_country(page, "telephone") == "FR"
    assert selected_country(page, "mobile") == "GB"


def test_admin_saves_a_national_number_in_the_chosen_country(support_client, member):
    data = {
        "email": member.email,
        "full_name": member.full_name,
        "role": member.role,
        "is_active": "on",
        "telephone_country": "DE",
        "telephone": "030 123456",
        "mobile_country": "GB",
        "mobile": "",
    }

    response = support_client.post(f"/admin/accounts/user/{member.pk}/change/", data)

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.telephone == "+4930123456"
    assert member.mobile == ""


# --- Before the second factor -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [("+447400123456", "•••• •• 3456"), ("+12125550100", "•••• •• 0100"), ("+33612345678", "•••• •• 5678")],
)
def test_mask_shows_the_last_four_digits_in_one_shape(number, masked):
    assert mask_phone_number(number) == masked


@pytest.mark.parametrize(
    ("number", "shown"),
    [("+447400123456", "+44 7400 123456"), ("+12125550100", "+1 212 555 0100"), ("+81312345678", "+81 3 1234 5678")],
)
def test_numbers_read_alike_with_spaces_whatever_the_country(number, shown):
    assert format_international(number) == shown


def test_login_code_page_masks_the_number_until_the_second_factor(client, member):
    sms_token(member, "+33612345678")
    assert client.post("/login/", {"username": member.email, "password": PASSWORD}).url == "/login/code/"

    page = page_text(client.get("/login/code/"))

    assert "Text a code to •••• •• 5678" in page
    assert "+33 6 12 34 56 78" not in page and "+33612345678" not in page


# --- Where numbers are typed: account set-up and SMS tokens -------------------------------------


def test_fallback_number_step_texts_a_national_number_in_the_chosen_country(
    owner_client, owner, capsys, django_capture_on_commit_callbacks
):
    page = page_text(owner_client.get("/setup/phone/"))
    assert selected_country(page, "number") == "GB"
    # The field's label names the number; the selector is labelled on its own.
    assert '<label for="id_number_1">Mobile number</label>' in page
    assert re.search(r'<input type="tel" name="number"[^>]*id="id_number_1"', page)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/setup/phone/", {"number_country": "FR", "number": "06 12 34 56 78"}, follow=True)

    assert "We sent a code to <strong>+33 6 12 34 56 78</strong>" in page_text(response)
    assert "[SMS to +33612345678]" in capsys.readouterr().out
    assert str(SmsDevice.objects.get(user=owner, confirmed=False).number) == "+33612345678"


def test_sms_token_enrolment_takes_a_national_number_in_the_chosen_country(
    member_client, member, capsys, django_capture_on_commit_callbacks
):
    url = "/tokens/add/sms/"
    assert selected_country(page_text(member_client.get(url)), "number") == "GB"

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            url, {"number_country": "FR", "number": "06 12 34 56 78", "description": "Paris phone"}, follow=True
        )

    assert "We sent a code to <strong>+33 6 12 34 56 78</strong>" in page_text(response)
    assert "[SMS to +33612345678]" in capsys.readouterr().out
