"""POST /webhooks/ghl: GoHighLevel's events for every connected location.

verify the signature over the raw body -> reject stale or replayed deliveries -> record -> answer.
GHL only retries a delivery that got a 429, so an accepted event must never be lost: it is
committed before we answer.
"""

import logging
from datetime import timedelta

from flask import Blueprint, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from app.errors import error_response
from app.extensions import db
from app.models.base import utcnow
from app.services import ghl_events, webhook_events
from app.text import clean_payload, parse_json
from app.webhooks.signatures import ghl_signature_valid

log = logging.getLogger(__name__)

bp = Blueprint("ghl_webhooks", __name__, url_prefix="/webhooks/ghl")
RETRY_SOON = {"Retry-After": "30"}


@bp.post("")
def receive():
    raw = request.get_data(cache=True)
    config = current_app.config
    if not ghl_signature_valid(
        raw,
        request.headers,
        ed25519_key=config["GHL_WEBHOOK_ED25519_PUBLIC_KEY"],
        rsa_key=config["GHL_WEBHOOK_RSA_PUBLIC_KEY"],
    ):
        log.warning("webhook.ghl.bad-signature")
        return error_response(
            403, "bad_signature", "The X-GHL-Signature (or x-wh-signature) header is missing or wrong."
        )
    try:
        payload = clean_payload(parse_json(raw))  # a NUL in a message must not lose it (nor 429 forever)
    except (ValueError, RecursionError):
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    if not isinstance(payload, dict):
        return error_response(400, "malformed_event", "The event must be a JSON object.")
    if not _routable(payload):
        return error_response(400, "malformed_event", "The event needs a `type` and a `locationId` (strings).")
    if _stale(payload.get("timestamp"), config["GHL_WEBHOOK_MAX_AGE_SECONDS"]):
        log.warning("webhook.ghl.stale", extra={"event_type": payload.get("type")})
        return error_response(400, "stale_event", "The event's timestamp is too old (or not a timestamp).")
    try:
        tenant = ghl_events.find_tenant(payload)
        if tenant is None:
            log.warning("webhook.ghl.unknown-tenant", extra={"event_type": payload.get("type")})
            return error_response(404, "tenant_not_found", "No account is connected to this GHL location.")
        event = webhook_events.record_event(
            tenant,
            provider="ghl",
            event_key=ghl_events.event_key(payload),
            event_type=ghl_events.event_type(payload),
            payload=payload,
        )
    except SQLAlchemyError:
        # GHL redelivers only what was answered 429: ask for that rather than lose the event.
        db.session.rollback()
        log.exception("webhook.ghl.not-stored")
        return error_response(429, "try_again", "The event could not be stored; send it again.", headers=RETRY_SOON)
    return {"status": "accepted" if event is not None else "duplicate"}


def _routable(payload: dict) -> bool:
    """Every GHL event names its type and location (strings): without them there is nothing to route or store."""
    name, location_id = payload.get("type") or payload.get("event"), payload.get("locationId")
    return isinstance(name, str) and bool(name) and isinstance(location_id, str) and bool(location_id)


def _stale(timestamp, max_age_seconds: int) -> bool:
    if timestamp is None:
        return False  # the legacy event names carry none; the signature still holds
    sent_at = ghl_events.parse_timestamp(timestamp)
    return sent_at is None or abs(utcnow() - sent_at) > timedelta(seconds=max_age_seconds)
