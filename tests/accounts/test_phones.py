"""Which numbers may receive second-factor codes (SPEC §2): mobile or landline only."""

import re

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from accounts.forms import PhoneNumberForm
from accounts.phones import parse_phone_number, validate_factor_phone_number


def example_of(number_type: int) -> phonenumbers.PhoneNumber:
    """phonenumbers' own example of a type, from the UK where it has one, else the first region."""
    for region in ["GB", *sorted(phonenumbers.SUPPORTED_REGIONS)]:
        number = phonenumbers.example_number_for_type(region, number_type)
        if number is not None and phonenumbers.number_type(number) == number_type:
            return number
    raise LookupError(number_type)


def international(number: phonenumbers.PhoneNumber) -> str:
    """The number as a person would type it: '+44 121 234 5678'."""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize(
    ("number_type", "reason"),
    [
        (PhoneNumberType.VOIP, "it is an internet (VoIP) number"),
        (PhoneNumberType.TOLL_FREE, "it is a toll-free number"),
        (PhoneNumberType.PREMIUM_RATE, "it is a premium-rate number"),
        (PhoneNumberType.SHARED_COST, "it is a shared-cost number"),
        (PhoneNumberType.PERSONAL_NUMBER, "it is a personal (forwarding) number"),
        (PhoneNumberType.PAGER, "it is a pager number"),
        (PhoneNumberType.UAN, "it is a universal access number"),
        (PhoneNumberType.VOICEMAIL, "it is a voicemail number"),
    ],
)
def test_number_that_is_not_mobile_or_landline_is_refused_naming_the_reason(number_type, reason):
    number = example_of(number_type)

    with pytest.raises(ValidationError) as refused:
        validate_factor_phone_number(international(number))

    assert refused.value.messages == [
        f"This number cannot receive security codes because {reason}. Use a mobile or landline number."
    ]


def test_number_of_unknown_type_is_refused():
    number = phonenumbers.parse("+44 7700 900123")
    assert phonenumbers.number_type(number) == PhoneNumberType.UNKNOWN

    with pytest.raises(ValidationError) as refused:
        validate_factor_phone_number("+44 7700 900123")

    assert refused.value.code == "invalid"
    assert "not valid" in refused.value.message


@pytest.mark.parametrize("raw", ["+44 123", "+44 1212 345 678 999", "+1 555 0100"])
def test_invalid_number_is_refused(raw):
    with pytest.raises(ValidationError) as refused:
        validate_factor_phone_number(raw)

    assert refused.value.messages == [
        "This phone number is not valid: check the country code and the number of digits."
    ]


@pytest.mark.parametrize("raw", ["", "   ", "call me", "++44", "+", "+999 1234 5678"])
def test_text_that_is_no_number_is_refused(raw):
    with pytest.raises(ValidationError) as refused:
        validate_factor_phone_number(raw)

    assert refused.value.code == "invalid"


@pytest.mark.parametrize(
    "number_type", [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE]
)
def test_mobile_and_landline_numbers_are_accepted_in_e164(number_type):
    number = example_of(number_type)

    assert validate_factor_phone_number(international(number)) == e164(number)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("07400 123456", "+447400123456"),  # national format: the default region is the UK
        ("+44 (0)7400 123 456", "+447400123456"),
        ("0044 7400 123456", "+447400123456"),
        ("+44-121-234-5678", "+441212345678"),
        ("+1 (201) 555-0123", "+12015550123"),
        ("+33 6 12 34 56 78", "+33612345678"),
    ],
)
def test_number_is_stored_in_e164_however_it_is_typed(raw, expected):
    assert validate_factor_phone_number(raw) == expected


def test_example_in_the_form_help_and_messages_is_itself_accepted():
    examples = {PhoneNumberForm().fields["number"].help_text}
    with pytest.raises(ValidationError) as refused:
        parse_phone_number("call me")
    examples.add(refused.value.message)

    for text in examples:
        match = re.search(r"e\.g\. (\+[\d ]+\d)", str(text))
        assert match is not None, text
        assert validate_factor_phone_number(match.group(1)).startswith("+44")


def test_phone_form_reports_the_reason_on_the_number_field():
    form = PhoneNumberForm(data={"number": international(example_of(PhoneNumberType.TOLL_FREE))})

    assert not form.is_valid()
    assert "it is a toll-free number" in form.errors["number"][0]


phone_like = st.text(alphabet="+0123456789 -().", max_size=24)


@given(st.one_of(st.text(max_size=40), phone_like, phone_like.map(lambda s: "+44" + s)))
def test_any_text_gives_an_e164_number_or_a_validation_error(raw):
    try:
        result = validate_factor_phone_number(raw)
    except ValidationError as refused:
        assert refused.messages
        return
    assert re.fullmatch(r"\+[1-9]\d{6,14}", result)
    assert validate_factor_phone_number(result) == result
