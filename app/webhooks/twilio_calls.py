"""Twilio's requests about calls we placed (click-to-call): /webhooks/twilio/voice/outbound/<message id>/...

The staff member answers -> TwiML that dials the customer with the business number as caller id
(and, when the call is recorded, plays the customer the notice first, as the <Number url> whisper);
status, dial outcome and recording callbacks are verified, stored (deduplicated) and processed by
a worker like every other Twilio event.
https://www.twilio.com/docs/voice/twiml/dial, https://www.twilio.com/docs/voice/twiml/number#url
"""

import logging

from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from app.errors import error_response
from app.providers import twilio_call_payloads
from app.providers.twilio_voice import outbound_call_url
from app.services import calls, twilio_events, webhook_events
from app.webhooks.twilio import _signed_by

log = logging.getLogger(__name__)

bp = Blueprint("twilio_calls", __name__, url_prefix="/webhooks/twilio/voice/outbound")
CUSTOMER_RING_SECONDS = 30


def _tenant():
    try:
        return twilio_events.find_tenant(request.form.to_dict(), signed_by=_signed_by), None
    except twilio_events.BadSignature:
        log.warning("webhook.twilio.bad-signature", extra={"event_type": "call.placed"})
        return None, error_response(403, "bad_signature", "The X-Twilio-Signature header is missing or wrong.")
    except twilio_events.UnknownTenant:
        return None, error_response(404, "tenant_not_found", "No account is connected to this Twilio account.")


@bp.post("/<int:message_id>")
def staff_answered(message_id: int):
    """The staff member picked up: dial the customer, showing the business number."""
    tenant, refusal = _tenant()
    if tenant is None:
        return refusal or error_response(404, "tenant_not_found", "No single account owns this call.")
    target = calls.call_target(tenant, message_id)
    response = VoiceResponse()
    if target is None:
        response.say("This call can no longer be placed.")
        response.hangup()
        return _twiml(response)
    customer_phone, record = target
    base = _callback_base()
    options = {
        "caller_id": tenant.twilio_phone_number,
        "timeout": CUSTOMER_RING_SECONDS,
        "action": outbound_call_url(base, str(message_id), "dialed"),
        "method": "POST",
    }
    if record:
        options |= {
            "record": "record-from-answer-dual",
            "recording_status_callback": outbound_call_url(base, str(message_id), "recording"),
            "recording_status_callback_event": "completed",
        }
    dial = response.dial(**options)
    dial.number(customer_phone, url=outbound_call_url(base, str(message_id), "notice") if record else None)
    return _twiml(response)


@bp.post("/<int:message_id>/notice")
def recording_notice(message_id: int):
    """Played to the customer when they answer, before the call connects (the call is recorded)."""
    tenant, refusal = _tenant()
    if tenant is None:
        return refusal or error_response(404, "tenant_not_found", "No single account owns this call.")
    response = VoiceResponse()
    response.say(calls.RECORDING_NOTICE)
    return _twiml(response)


@bp.post("/<int:message_id>/<any(status, dialed, recording):step>")
def report(message_id: int, step: str):
    """A report on the call (staff leg status, the customer's outcome, the recording): stored, then processed."""
    tenant, refusal = _tenant()
    if tenant is None:
        return refusal or error_response(404, "tenant_not_found", "No single account owns this call.")
    params = request.form.to_dict()
    try:
        event_type, event_key = twilio_call_payloads.classify(step, params)
    except ValueError as exc:
        return error_response(400, "unknown_event", str(exc))
    params[twilio_call_payloads.REFERENCE] = str(message_id)
    webhook_events.record_event(tenant, provider="twilio", event_key=event_key, event_type=event_type, payload=params)
    response = VoiceResponse()
    if step == "dialed":
        response.hangup()  # the customer's leg is over: end the staff member's too
    return _twiml(response)


def _callback_base() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/webhooks/twilio"


def _twiml(response) -> Response:
    return Response(str(response), status=200, mimetype="text/xml")
