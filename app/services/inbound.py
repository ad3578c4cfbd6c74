"""Messages that reach us from outside the API, through one path: what customers write or call in
(any provider, the widget), copies of messages staff sent from a provider's own app, and history.

Find the conversation (the customer's open one on that channel; else their latest closed one,
reopened; else a new one), store the message once (a provider id already stored is returned as
is), unread when a customer sent it, move the conversation's activity, and honour STOP/START.
"""

import logging
import re
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.live import notify
from app.models import Contact, Conversation, Message, Tenant
from app.models.base import utcnow
from app.models.conversation import OPT_OUT_CHANNELS
from app.providers.base import CallOutcome, DeliveryReport, ProviderIds, ProviderMessage
from app.services.contacts import set_opt_out
from app.services.conversations import append_message, conversation_for_customer, move_to
from app.services.delivery_status import apply_delivery_report, find_by_provider_id
from app.services.notifications import notify_inbound
from app.services.unit_of_work import use_case

log = logging.getLogger(__name__)

# The carrier-standard keywords (CTIA; Twilio's Advanced Opt-Out uses the same lists).
OPT_OUT_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
OPT_IN_KEYWORDS = {"START", "YES", "UNSTOP", "OPTIN"}


def opt_out_intent(body: str, provider_hint: str | None = None) -> str | None:
    """ "STOP", "START" or None, from the provider's own flag (Twilio OptOutType) or the keyword."""
    if provider_hint and provider_hint.upper() in ("STOP", "START"):
        return provider_hint.upper()
    word = re.sub(r"[^A-Za-z]", "", body or "").upper()
    if word in OPT_OUT_KEYWORDS:
        return "STOP"
    if word in OPT_IN_KEYWORDS:
        return "START"
    return None


def record_inbound(
    tenant: Tenant,
    *,
    channel: str,
    body: str,
    contact: Contact | None = None,
    conversation: Conversation | None = None,
    attachments: list | None = None,
) -> tuple[Conversation, Message]:
    """Store a message a customer sent, unread, in the right conversation (the widget, the demo)."""
    reported = ProviderMessage(channel=channel, body=body, attachments=tuple(attachments or ()))
    return record_message(tenant, reported, contact=contact, conversation=conversation)


@use_case
def record_message(
    tenant: Tenant,
    reported: ProviderMessage,
    *,
    contact: Contact | None = None,
    conversation: Conversation | None = None,
) -> tuple[Conversation, Message]:
    """Store one message from outside the API, once: a provider id already stored is returned as is."""
    if existing := find_by_provider_id(tenant.id, reported.ids.message):
        return db.session.get(Conversation, existing.conversation_id), existing
    if conversation is None:
        conversation = conversation_for_customer(tenant, contact, reported.channel)
    elif reported.direction == "inbound":
        move_to(conversation, "open")  # a customer writing again reopens a closed thread
    message = _new_message(tenant, conversation, reported)
    try:
        with db.session.begin_nested():
            append_message(conversation, message)
    except IntegrityError:  # the same provider id raced in through another delivery
        existing = find_by_provider_id(tenant.id, reported.ids.message)
        return db.session.get(Conversation, existing.conversation_id), existing
    _keep_thread_id(conversation, reported.ids)
    if reported.call is not None:
        apply_call_outcome(message, reported.call)
    _honour_opt_out(tenant, contact, reported)
    notify_inbound(message)  # push, enqueued after the commit; customers' messages only, never history
    if not reported.history:  # a backfill is not news
        notify.message_created(message)  # live streams, on commit (app/live)
    log.info(
        "message.recorded",
        extra={"tenant_id": tenant.id, "conversation_id": conversation.id, "message_id": message.id},
    )
    return conversation, message


@use_case
def record_reported(tenant: Tenant, reported: ProviderMessage, *, contact_for: Callable[[], Contact]) -> Message:
    """A message a provider reports (webhook or history): stored once, with `contact_for()` as its
    contact when it is new; when we have it already, only what this report adds (a call's outcome,
    news of our own send's delivery)."""
    existing = find_by_provider_id(tenant.id, reported.ids.message)
    if existing is None:
        return record_message(tenant, reported, contact=contact_for())[1]
    if existing.direction == "outbound" and reported.report is not None:
        apply_delivery_report(tenant.id, DeliveryReport(reported.ids.message, reported.report))
    if reported.call is not None:
        apply_call_outcome(existing, reported.call)
        notify_inbound(existing)  # a missed call or a voicemail is news (an answered call is not)
    return existing


def _new_message(tenant: Tenant, conversation: Conversation, reported: ProviderMessage) -> Message:
    inbound = reported.direction == "inbound"
    return Message(
        tenant_id=tenant.id,
        conversation_id=conversation.id,
        # Outbound copies were typed by staff inside the provider's own app: a staff message, never unread.
        sender_type="visitor" if inbound else "staff",
        body=reported.body or "",
        channel=reported.channel,
        direction=reported.direction,
        delivery_status=reported.status,
        provider_message_id=reported.ids.message,
        # A message of a provider's own thread (GHL) keeps its id in the seed's ghl_message_id too.
        ghl_message_id=reported.ids.message if reported.ids.conversation else None,
        attachments=list(reported.attachments),
        inserted_at=reported.occurred_at or utcnow(),
        read_at=utcnow() if reported.history and inbound else None,  # history must not light up badges
    )


def _keep_thread_id(conversation: Conversation, ids: ProviderIds) -> None:
    if ids.conversation and not conversation.provider_conversation_id:
        conversation.provider_conversation_id = ids.conversation


def _honour_opt_out(tenant: Tenant, contact: Contact | None, reported: ProviderMessage) -> None:
    if contact is None or reported.direction != "inbound" or reported.channel not in OPT_OUT_CHANNELS:
        return
    if intent := opt_out_intent(reported.body, reported.opt_out_hint):
        set_opt_out(contact, intent == "STOP")
        log.info("contact.opt-out-changed", extra={"tenant_id": tenant.id, "contact_id": contact.id, "to": intent})


def apply_call_outcome(message: Message, call: CallOutcome) -> None:
    """A call's message takes what the provider now says of the call: duration, recording, and its text.

    A voicemail's text stays when the call's final status arrives after the recording.
    """
    if call.duration_seconds is not None:
        message.call_duration_seconds = call.duration_seconds
    keeps_voicemail = message.recording_url is not None and call.recording_url is None
    if call.recording_url:
        message.recording_url = call.recording_url
    message.transcript = call.transcript or message.transcript
    text = call_text(call)
    if not text or keeps_voicemail:
        text = message.body.split(TRANSCRIPT_SEPARATOR, 1)[0] if message.transcript else message.body
    # A voicemail's body is "Voicemail, N s: <its words>", so the inbox preview and the push show them.
    heard = message.transcript if message.recording_url and message.transcript else None
    message.body = f"{text}{TRANSCRIPT_SEPARATOR}{heard}" if heard else text


TRANSCRIPT_SEPARATOR = ": "  # never in a call's own text below


def call_text(call: CallOutcome) -> str | None:
    """What a call's message says, whichever provider reported it; None while the call is not over."""
    if call.status == "voicemail":
        seconds = call.recording_duration_seconds
        return f"Voicemail, {seconds} s" if seconds is not None else "Voicemail"
    if call.status == "completed" and call.duration_seconds:
        return f"Call, {call.duration_seconds} s"
    if call.final:
        return "Missed call" if call.status == "completed" else f"Missed call ({call.status})"
    return None
