"""Phone numbers (SPEC §2): parsing with a country, validation for a second factor, display.

Numbers are stored in E.164 and shown in the international format with spaces
("+44 7400 123456"); before the second factor of a login only the last four digits show.
"""

import functools
import unicodedata

import phonenumbers
import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from phonenumbers import PhoneNumberType
from twilio.base.exceptions import TwilioException

from accounts.region_names import REGION_NAMES

ACCEPTED_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
}

REFUSED_TYPE_REASONS = {
    PhoneNumberType.VOIP: "it is an internet (VoIP) number",
    PhoneNumberType.TOLL_FREE: "it is a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "it is a premium-rate number",
    PhoneNumberType.SHARED_COST: "it is a shared-cost number",
    PhoneNumberType.PERSONAL_NUMBER: "it is a personal (forwarding) number",
    PhoneNumberType.PAGER: "it is a pager number",
    PhoneNumberType.UAN: "it is a universal access number",
    PhoneNumberType.VOICEMAIL: "it is a voicemail number",
    PhoneNumberType.UNKNOWN: "its type (mobile or landline) cannot be determined",
}


# Regions phonenumbers knows but has no English name for.
# Before the second factor of a login: the same shape for every number, so it tells nothing but
# the last four digits (not the country, not the length).
MASK = "•••• •• "


def parse_phone_number(raw: str, region: str | None = None) -> phonenumbers.PhoneNumber:
    """Parse a number typed by a person; raise ValidationError if it is not a valid number.

    ``region`` is the country chosen beside the number (PHONENUMBER_DEFAULT_REGION when none
    was); a number typed with its country code (+…) keeps its own.
    """
    try:
        number = phonenumbers.parse(raw, region or settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            "This is not a phone number. Enter it with the country code, e.g. +44 7400 123456.",
            code="invalid",
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            "This phone number is not valid: check the country code and the number of digits.",
            code="invalid",
        )
    return number


def validate_factor_phone_number(raw: str) -> str:
    """Return the number in E.164 if it may receive second-factor codes, else raise."""
    number = parse_phone_number(raw)
    number_type = phonenumbers.number_type(number)
    if number_type not in ACCEPTED_TYPES:
        reason = REFUSED_TYPE_REASONS.get(number_type, "it is not a mobile or landline number")
        raise ValidationError(
            f"This number cannot receive security codes because {reason}. Use a mobile or landline number.",
            code="refused_type",
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if settings.TWILIO_LOOKUP_ENABLED:
        from common.sms import carrier_line_type

        try:
            line_type = carrier_line_type(e164)
        except (TwilioException, requests.RequestException) as exc:
            raise ValidationError(
                "We could not check this number with the carrier just now. Try again in a few minutes.",
                code="lookup_unavailable",
            ) from exc
        if line_type in {"nonFixedVoip", "fixedVoip"}:
            raise ValidationError(
                "This number cannot receive security codes because the carrier reports it as "
                "an internet (VoIP) number. Use a mobile or landline number.",
                code="refused_carrier_voip",
            )
    return e164


def _region_name(region: str) -> str:
    return REGION_NAMES.get(region, region)


def _sort_key(label: str) -> str:
    # "Åland Islands" beside "Albania", not after "Zimbabwe".
    return unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().casefold()


@functools.cache
def region_choices() -> tuple[tuple[str, str], ...]:
    """Every region phonenumbers knows, by English name with its calling code: ("GB", "United Kingdom (+44)")."""
    choices = [
        (region, f"{_region_name(region)} (+{phonenumbers.country_code_for_region(region)})")
        for region in phonenumbers.SUPPORTED_REGIONS
    ]
    return tuple(sorted(choices, key=lambda choice: _sort_key(choice[1])))


def format_international(number: phonenumbers.PhoneNumber | str | None) -> str:
    """'+44 7400 123456' for a stored number (E.164 text or parsed); '' for none.

    phonenumbers' international format, with spaces where some countries' use hyphens
    ('+1 212 555 0100', not '+1 212-555-0100'), so every number on the portal reads alike.
    """
    if not number:
        return ""
    if isinstance(number, str):
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            return number
    else:
        parsed = number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL).replace("-", " ")


def mask_phone_number(number: phonenumbers.PhoneNumber | str) -> str:
    """'•••• •• 3456': what the login page shows of a number before the second factor."""
    digits = "".join(ch for ch in format_international(number) if ch.isdigit())
    return MASK + digits[-4:]
