"""Twilio's webhooks, in the domain's words: which tenant, which event, and what it changes.

One URL receives everything (inbound SMS/MMS/WhatsApp, message status callbacks, inbound calls,
call status callbacks, recordings); the parameters tell them apart.
https://www.twilio.com/docs/messaging/guides/webhook-request
https://www.twilio.com/docs/voice/twiml#request-parameters
"""

import logging
from collections.abc import Callable

import sqlalchemy as sa

from app.extensions import db
from app.models import Contact, Conversation, Message, Tenant
from app.phones import InvalidPhoneNumber, normalize_phone
from app.providers.base import FAILED
from app.providers.twilio import OPTED_OUT_CODE, twilio_status_to_ours
from app.services.contacts import find_or_create_by_phone, set_opt_out
from app.services.delivery_status import apply_status_update
from app.services.inbound import InboundMessage, StatusBeforeSend, find_by_provider_ids, store_message
from app.services.notifications import notify_inbound
from app.services.settings import account_sid_digest

log = logging.getLogger(__name__)

INBOUND_MESSAGE, MESSAGE_STATUS = "message.inbound", "message.status"
INBOUND_CALL, CALL_STATUS, RECORDING = "call.inbound", "call.status", "call.recording"
FINAL_CALL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")


class UnknownEvent(ValueError):
    pass


class UnknownTenant(LookupError):
    pass


class BadSignature(PermissionError):
    pass


def classify(params: dict) -> tuple[str, str]:
    """(event type, dedupe key) from the parameters. The key is Twilio's id plus the state it reports."""
    if call_sid := params.get("CallSid"):
        if recording_sid := _recording_sid(params):
            return RECORDING, f"{call_sid}:recording:{recording_sid}"
        status = params.get("CallStatus", "")
        event = CALL_STATUS if status in FINAL_CALL_STATUSES else INBOUND_CALL
        return event, f"{call_sid}:{status}"
    if message_sid := params.get("MessageSid") or params.get("SmsSid"):
        status = params.get("MessageStatus") or params.get("SmsStatus") or ""
        if status == "received" or ("Body" in params and "MessageStatus" not in params):
            return INBOUND_MESSAGE, f"{message_sid}:received"
        return MESSAGE_STATUS, f"{message_sid}:{status}"
    raise UnknownEvent("Neither MessageSid nor CallSid is present.")


def find_tenant(params: dict, signed_by: Callable[[Tenant], bool]) -> Tenant | None:
    """The tenant whose Twilio account sent this, proven by its auth token's signature.

    By AccountSid first; when one account serves several tenants, the number or messaging service
    involved (or the call or message we already stored) says whose it is. Only a tenant whose auth
    token validates the signature can be chosen, so a tenant that copies another's account SID and
    number into its settings neither receives nor blocks the other's traffic.
    Raises UnknownTenant when no tenant has this account, BadSignature when none signed it.
    """
    digest = account_sid_digest(params.get("AccountSid"))
    candidates = []
    if digest is not None:
        candidates = list(
            db.session.scalars(
                sa.select(Tenant)
                .where(Tenant.twilio_account_sid_digest == digest, Tenant.sms_provider == "twilio")
                .order_by(Tenant.id)
            )
        )
    if not candidates:
        raise UnknownTenant()
    signers = [tenant for tenant in candidates if signed_by(tenant)]
    if not signers:
        raise BadSignature()
    if len(signers) == 1:
        return signers[0]
    matches = _involved(signers, params)
    return matches[0] if len(matches) == 1 else None


def _involved(tenants: list[Tenant], params: dict) -> list[Tenant]:
    """The tenants whose number, messaging service or stored call/message this event names."""
    # Without the `if`, a callback naming no number (a recording's) would match a tenant that has none.
    numbers = {number for number in (_bare(params.get("To")), _bare(params.get("From"))) if number}
    service = params.get("MessagingServiceSid")
    matches = [
        tenant
        for tenant in tenants
        if (service and tenant.twilio_messaging_service_sid == service) or tenant.twilio_phone_number in numbers
    ]
    if not matches and (known_sid := params.get("CallSid") or params.get("MessageSid")):
        # Recording status callbacks carry neither From nor To: the call we already stored says whose it is.
        owners = set(
            db.session.scalars(
                sa.select(Message.tenant_id).where(
                    Message.provider_message_id == known_sid, Message.tenant_id.in_([t.id for t in tenants])
                )
            )
        )
        matches = [tenant for tenant in tenants if tenant.id in owners]
    return matches


def handle_twilio_event(tenant: Tenant, event_type: str, params: dict) -> None:
    handlers = {
        INBOUND_MESSAGE: _inbound_message,
        MESSAGE_STATUS: _message_status,
        INBOUND_CALL: _call,
        CALL_STATUS: _call,
        RECORDING: _recording,
    }
    handlers[event_type](tenant, params)


def _inbound_message(tenant: Tenant, params: dict) -> None:
    sender = params.get("From", "")
    channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
    contact = _contact(tenant, sender)
    # Every MediaUrlN, not only the first (a bug other products shipped).
    attachments = [
        {"url": params[f"MediaUrl{index}"], "content_type": params.get(f"MediaContentType{index}")}
        for index in range(_int(params.get("NumMedia")) or 0)
        if params.get(f"MediaUrl{index}")
    ]
    store_message(
        tenant,
        InboundMessage(
            channel=channel,
            body=params.get("Body", ""),
            provider_message_id=params.get("MessageSid") or params.get("SmsSid"),
            attachments=attachments,
        ),
        contact=contact,
        opt_out_hint=params.get("OptOutType"),
    )


def _message_status(tenant: Tenant, params: dict) -> None:
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = twilio_status_to_ours(params.get("MessageStatus") or params.get("SmsStatus"))
    if status is None:
        return  # in-flight states say nothing new
    message = find_by_provider_ids(tenant, sid, None)
    if message is None:
        raise StatusBeforeSend(f"No message with Twilio sid {sid} yet.")
    error_code = params.get("ErrorCode") or None
    applied = apply_status_update(
        tenant.id,
        message.id,
        status,
        error_code=error_code,
        error_message=params.get("ErrorMessage") or (f"Twilio error {error_code}" if error_code else None),
    )
    if applied and status == FAILED and error_code == str(OPTED_OUT_CODE):
        _mark_opted_out(tenant, message)


def _call(tenant: Tenant, params: dict) -> None:
    """An inbound call: one `voice` message per CallSid, completed by its status callback."""
    message = _call_message(tenant, params)
    status = params.get("CallStatus", "")
    if status in FINAL_CALL_STATUSES:
        duration = _int(params.get("CallDuration"))
        message.call_duration_seconds = duration
        if message.recording_url is None:
            message.body = f"Call, {duration} s" if status == "completed" and duration else f"Missed call ({status})"
        db.session.commit()
        notify_inbound(message)  # a missed call or a voicemail is news; the push says which


def _recording(tenant: Tenant, params: dict) -> None:
    message = _call_message(tenant, params)
    message.recording_url = params.get("RecordingUrl")
    duration = _int(params.get("RecordingDuration"))
    message.body = f"Voicemail, {duration} s" if duration is not None else "Voicemail"
    db.session.commit()
    notify_inbound(message)


def _call_message(tenant: Tenant, params: dict) -> Message:
    call_sid = params["CallSid"]
    existing = find_by_provider_ids(tenant, call_sid, None)
    if existing is not None:
        return existing
    # Status and recording callbacks can overtake the call's first request: start the message here too.
    _, message = store_message(
        tenant,
        InboundMessage(channel="voice", body="Incoming call", provider_message_id=call_sid),
        contact=_contact(tenant, params.get("From", "")),
    )
    return message


def _contact(tenant: Tenant, address: str) -> Contact:
    try:
        return find_or_create_by_phone(tenant, normalize_phone(address))
    except InvalidPhoneNumber as exc:
        raise UnknownEvent("The sender is not a phone number.") from exc


def _mark_opted_out(tenant: Tenant, message: Message) -> None:
    conversation = db.session.get(Conversation, message.conversation_id)
    if conversation.contact_id:
        set_opt_out(db.session.get(Contact, conversation.contact_id), True)
        db.session.commit()


def _recording_sid(params: dict) -> str | None:
    """The recording a request reports, if any.

    <Record>'s action request carries RecordingUrl and RecordingDuration but no RecordingSid
    (https://www.twilio.com/docs/voice/twiml/record): the URL ends with the SID, so the action and
    the recording status callback dedupe to one event, and neither is mistaken for a new call.
    """
    if recording_sid := params.get("RecordingSid"):
        return recording_sid
    if url := params.get("RecordingUrl"):
        return url.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0] or url
    return None


def _bare(address: str | None) -> str | None:
    return address.removeprefix("whatsapp:") if address else None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
