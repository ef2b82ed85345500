"""Validation of phone numbers used for a second factor (SPEC §2)."""

import phonenumbers
import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from phonenumbers import PhoneNumberType
from twilio.base.exceptions import TwilioException

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


def parse_phone_number(raw: str) -> phonenumbers.PhoneNumber:
    """Parse a number typed by a person; raise ValidationError if it is not a valid number."""
    try:
        number = phonenumbers.parse(raw, settings.PHONENUMBER_DEFAULT_REGION)
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
