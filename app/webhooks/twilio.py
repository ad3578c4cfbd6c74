"""POST /webhooks/twilio: the one URL a tenant enters in Twilio, for messages, statuses and calls.

verify -> record (deduplicated) -> hand off -> answer with TwiML. Sub-paths (/webhooks/twilio/...)
land here too, so Twilio's separate URL fields can point wherever is convenient.
"""

import logging
import secrets

from flask import Blueprint, Response, current_app, request
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from app import crypto
from app.errors import error_response
from app.models import Tenant
from app.services import twilio_events, webhook_events
from app.text import clean_payload
from app.webhooks.signatures import twilio_signature_valid

log = logging.getLogger(__name__)

bp = Blueprint("twilio_webhooks", __name__, url_prefix="/webhooks/twilio")
VOICEMAIL_PROMPT = "Sorry, we can't take your call right now. Please leave a message after the tone."


@bp.post("", defaults={"subpath": ""})
@bp.post("/<path:subpath>")
def receive(subpath: str):
    params = clean_payload(request.form.to_dict())  # a NUL in a Body must not lose the message
    if reference := request.args.get("ref"):  # our message, named in the status callback URL we gave Twilio
        params[twilio_events.REFERENCE] = reference
    try:
        event_type, event_key = twilio_events.classify(params)
    except twilio_events.UnknownEvent as exc:
        return error_response(400, "unknown_event", str(exc))
    try:
        tenant = twilio_events.find_tenant(params, signed_by=_signed_by)
    except twilio_events.BadSignature:
        log.warning("webhook.twilio.bad-signature", extra={"event_type": event_type})
        return _bad_signature()
    except twilio_events.UnknownTenant:
        # Answered exactly as a bad signature (and after as much work), so nobody can probe which
        # AccountSids are our customers.
        _spend_a_signature_check()
        log.warning("webhook.twilio.unknown-tenant", extra={"event_type": event_type})
        return _bad_signature()
    if tenant is None:
        log.warning("webhook.twilio.unknown-tenant", extra={"event_type": event_type})
        return error_response(404, "tenant_not_found", "No account is connected to this Twilio account and number.")
    webhook_events.record_event(tenant, provider="twilio", event_key=event_key, event_type=event_type, payload=params)
    return _twiml(_answer(tenant, event_type, params))


def _bad_signature():
    return error_response(403, "bad_signature", "The X-Twilio-Signature header is missing or wrong.")


def _spend_a_signature_check() -> None:
    signature = request.headers.get("X-Twilio-Signature", "")
    twilio_signature_valid(secrets.token_hex(16), request.url, request.form, signature, request.get_data(cache=True))


def _signed_by(tenant: Tenant) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not tenant.twilio_auth_token_encrypted:
        return False
    auth_token = crypto.decrypt(tenant.twilio_auth_token_encrypted)
    query = f"?{request.query_string.decode()}" if request.query_string else ""
    # The URL Twilio called: our public base URL, else the request's own (ProxyFix applied the
    # X-Forwarded-* headers), so a proxy's internal host or scheme cannot break the check.
    candidates = {current_app.config["PUBLIC_BASE_URL"].rstrip("/") + request.path + query, request.url}
    raw = request.get_data(cache=True)
    return any(twilio_signature_valid(auth_token, url, request.form, signature, raw) for url in candidates)


def _answer(tenant: Tenant, event_type: str, params: dict):
    """What Twilio should do next: nothing for messages and statuses; for a call, ring or take a message."""
    if event_type == twilio_events.RECORDING:
        response = VoiceResponse()
        response.hangup()
        return response
    if "DialCallStatus" in params:  # back from <Dial>: nobody answered, so offer voicemail
        return _hang_up() if params["DialCallStatus"] == "completed" else _voicemail()
    if event_type == twilio_events.INBOUND_CALL:
        if tenant.forwarding_phone_number:
            response = VoiceResponse()
            response.dial(tenant.forwarding_phone_number, timeout=20, action=_url("/webhooks/twilio/voice/dialed"))
            return response
        return _voicemail()
    return (
        MessagingResponse()
        if event_type in (twilio_events.INBOUND_MESSAGE, twilio_events.MESSAGE_STATUS)
        else VoiceResponse()
    )


def _voicemail() -> VoiceResponse:
    response = VoiceResponse()
    response.say(VOICEMAIL_PROMPT)
    response.record(
        max_length=120,
        play_beep=True,
        action=_url("/webhooks/twilio/voice/recorded"),
        recording_status_callback=_url("/webhooks/twilio/voice/recording"),
        recording_status_callback_event="completed",
        # Twilio transcribes recordings of up to 2 minutes (max_length above); the text becomes the body.
        transcribe=True,
        transcribe_callback=_url("/webhooks/twilio/voice/transcription"),
    )
    return response


def _hang_up() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


def _url(path: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def _twiml(response) -> Response:
    return Response(str(response), status=200, mimetype="text/xml")
