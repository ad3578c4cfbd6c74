"""E.164 normalisation, in one place, with Google's libphonenumber rules."""

import phonenumbers

DEFAULT_REGION = "US"  # for numbers typed without a country code


class InvalidPhoneNumber(ValueError):
    pass


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return `raw` as E.164 (+15551234567), or raise InvalidPhoneNumber."""
    text = (raw or "").strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:") :]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(str(raw)) from exc
    # is_possible_number, not is_valid_number: libphonenumber's per-range metadata lags real
    # allocations (and rejects the 555 test numbers everyone's docs use); length rules do not.
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:  # a local-only 7-digit number is not
        raise InvalidPhoneNumber(str(raw))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_or_none(raw: str | None) -> str | None:
    """E.164 for a number a provider handed us, or None when it is missing or not a phone number."""
    try:
        return normalize_phone(raw) if raw else None
    except InvalidPhoneNumber:
        return None
