"""Click-to-call: staff call a customer from the app, through the tenant's provider.

The API stores the call as an outbound `voice` message, `pending`, and answers at once; a worker
places it (the send pipeline's task: `delivery.send_pending_message` hands voice messages here, so
the claim, the sweeper and the interrupted-send rule cover calls too). The provider rings the
staff member's own phone, then dials the customer with the business number as caller id. Its
reports about each leg (PlacedCallReport) arrive in any order; the message's status and text are
computed from all of them, so every order ends in the same message:

  pending -> sent (placed) -> delivered (the customer answered and talked: "Outgoing call, 42 s")
                           -> failed (the customer was busy or did not answer, or the staff member's
                              own phone did not answer)

Opt-out: a contact's STOP is a texting keyword and does not stop calls; calls have their own
flag (contacts' `calls_opted_out`, set by staff when a customer asks not to be called).
"""

import logging

from app.crypto import SecretUnreadable
from app.errors import ChannelUnavailable, Conflict, ValidationFailed
from app.extensions import db
from app.models import Contact, Conversation, Message, Tenant, User
from app.models.base import utcnow
from app.providers.base import (
    DELIVERED,
    FAILED,
    SENT,
    CallRequest,
    PlacedCallReport,
    PlacesCalls,
    ProviderError,
    require,
)
from app.services.contacts import find_contact_by_phone, get_contact, resolve_contact
from app.services.conversations import append_message, find_or_start_open_conversation, get_conversation, move_to
from app.services.delivery_status import apply_status_update
from app.services.messages import Sent
from app.services.provider_registry import ProviderNotConfigured, has_provider, provider_for
from app.services.unit_of_work import commit_step, use_case

log = logging.getLogger(__name__)

# Played to the customer before a recorded call connects (many US states and the EU require consent).
RECORDING_NOTICE = "This call may be recorded."
PLACING_TEXT = "Outgoing call"
_NOT_CONNECTED = ("busy", "no-answer", "failed", "canceled")


@use_case
def call_conversation(tenant: Tenant, conversation_id: int, caller: User) -> Sent:
    """Call the customer of a conversation. The call is stored in their open `voice` conversation
    (this one when it is a voice conversation; a closed one is reopened)."""
    conversation = get_conversation(tenant, conversation_id, for_update=True)
    if conversation.status == "archived":
        raise Conflict("This conversation is archived; reopen it to call.", code="conversation_archived")
    contact = conversation.contact
    if contact is None or not contact.phone:
        raise ValidationFailed("This conversation has no phone number to call.", code="no_phone_number")
    _ensure_can_call(tenant, caller, contact)
    if conversation.channel != "voice":
        conversation = find_or_start_open_conversation(tenant, contact, "voice")
    elif conversation.status == "closed":
        move_to(conversation, "open")
    return _store_and_place(tenant, conversation, caller)


@use_case
def call_contact(tenant: Tenant, caller: User, *, contact_id: int | None = None, phone: str | None = None) -> Sent:
    """Call a contact (by id) or a phone number; the contact is created for a new number."""
    contact = get_contact(tenant, contact_id) if contact_id is not None else find_contact_by_phone(tenant, phone)
    if contact is not None and not contact.phone:
        raise ValidationFailed("This contact has no phone number.", code="no_phone_number")
    _ensure_can_call(tenant, caller, contact)
    if contact is None:
        contact = resolve_contact(tenant, phone=phone)
    return _store_and_place(tenant, find_or_start_open_conversation(tenant, contact, "voice"), caller)


def _ensure_can_call(tenant: Tenant, caller: User, contact: Contact | None) -> None:
    if not has_provider(tenant):
        raise ChannelUnavailable("Calls need a provider (Twilio); this account has none.")
    try:
        require(provider_for(tenant), PlacesCalls, "place calls")
    except ProviderNotConfigured as exc:
        raise ChannelUnavailable(str(exc)) from exc
    except ProviderError as exc:
        raise ValidationFailed(
            f"{exc.message} Calls made in the provider's own app still appear here.", code="calls_unavailable"
        ) from exc
    if not caller.phone:
        raise ValidationFailed(
            "Set your own phone number first (PUT /api/v1/me): the call rings it, then the customer.",
            code="no_staff_phone",
            fields={"phone": ["Required to place calls."]},
        )
    if contact is not None and contact.calls_opted_out:
        raise ValidationFailed("This contact asked not to be called.", code="opted_out")


def _store_and_place(tenant: Tenant, conversation: Conversation, caller: User) -> Sent:
    message = Message(
        tenant_id=tenant.id,
        conversation_id=conversation.id,
        sender_id=caller.id,
        sender_type="staff",
        body=PLACING_TEXT,
        channel="voice",
        direction="outbound",
        delivery_status="pending",
        enqueued_at=utcnow(),
        attachments=[],
        call_details={"record": bool(tenant.record_calls)},  # decided when staff asked, not when Twilio asks
    )
    append_message(conversation, message)
    commit_step()  # stored before the worker looks for it

    from app.services.delivery import hand_to_worker  # the send pipeline's hand-off (and its sweeper)

    hand_to_worker(tenant.id, message.id)
    log.info("call.accepted", extra={"tenant_id": tenant.id, "message_id": message.id})
    return Sent(conversation, message)


def place_claimed_call(message: Message, conversation: Conversation, contact: Contact | None) -> str:
    """The worker's side: place a call message the send pipeline has claimed. Returns "sent" or "failed".

    A call is never retried: a timed-out request may have rung the staff member already, and a
    call placed minutes after they tapped would surprise them. A failure says why; they tap again.
    """
    tenant = db.session.get(Tenant, message.tenant_id)
    staff = db.session.get(User, message.sender_id) if message.sender_id else None
    if contact is not None and contact.calls_opted_out:
        return _fail(message, "opted_out", "The contact asked not to be called.")
    if staff is None or not staff.phone:
        return _fail(message, "no_staff_phone", "The staff member has no phone number to ring.")
    customer_phone = (contact.phone if contact else None) or conversation.phone_number
    try:
        provider = require(provider_for(tenant), PlacesCalls, "place calls")
    except (ProviderNotConfigured, SecretUnreadable) as exc:
        return _fail(message, "provider_not_configured", str(exc))
    except ProviderError as exc:
        return _fail(message, exc.code, exc.message)
    request = CallRequest(
        staff_phone=staff.phone,
        customer_phone=customer_phone,
        reference=str(message.id),
        caller_id=None,
        record=bool((message.call_details or {}).get("record")),
    )
    commit_step()  # no transaction held while the provider answers
    try:
        ids = provider.place_call(request)
    except ProviderError as error:
        return _fail(message, error.code, error.message)
    except Exception as exc:  # an adapter bug must not strand the call as pending
        log.exception("call.place-crashed", extra={"tenant_id": tenant.id, "message_id": message.id})
        return _fail(message, "internal", exc.__class__.__name__)
    message.provider_message_id = message.provider_message_id or ids.message
    message.claimed_at = None
    db.session.flush()
    apply_status_update(message.tenant_id, message.id, SENT)
    commit_step()
    db.session.refresh(message)
    _settle(message)  # reports that overtook the worker already say more
    commit_step()
    log.info("call.placed", extra={"tenant_id": tenant.id, "message_id": message.id})
    return "sent"


def _fail(message: Message, code: str | None, text: str) -> str:
    apply_status_update(message.tenant_id, message.id, FAILED, error_code=code, error_message=text)
    db.session.refresh(message)
    message.body = "Outgoing call not placed"
    commit_step()
    log.info("call.failed", extra={"tenant_id": message.tenant_id, "message_id": message.id, "code": code})
    return "failed"


@use_case
def apply_placed_call_report(tenant: Tenant, report: PlacedCallReport) -> Message | None:
    """Record what the provider says about one leg of a call we placed; None when it names no call of ours."""
    if not report.reference.isdigit():
        return None
    message = db.session.get(Message, int(report.reference), with_for_update=True)
    if not _placed_by_us(tenant, message):
        return None
    if report.leg != "recording" and report.call_id:
        if message.provider_message_id and message.provider_message_id != report.call_id:
            log.warning("call.report-for-another-call", extra={"tenant_id": tenant.id, "message_id": message.id})
            return None
        message.provider_message_id = message.provider_message_id or report.call_id  # overtook the worker
    details = dict(message.call_details or {})
    if report.leg == "recording":
        message.recording_url = report.recording_url or message.recording_url
    elif report.leg == "customer":
        details["customer"] = report.status
        details["customer_seconds"] = report.duration_seconds
    else:
        # Progress of the staff leg never overwrites its final state (callbacks arrive out of order).
        if details.get("staff") not in ("completed", *_NOT_CONNECTED):
            details["staff"] = report.status
    message.call_details = details
    db.session.flush()
    _settle(message)
    return message


def _placed_by_us(tenant: Tenant, message: Message | None) -> bool:
    return message is not None and (message.tenant_id, message.channel, message.direction) == (
        tenant.id,
        "voice",
        "outbound",
    )


def _settle(message: Message) -> None:
    """The message's status and text from every leg reported so far (the same in any order)."""
    details = message.call_details or {}
    customer, staff = details.get("customer"), details.get("staff")
    if customer is not None:
        seconds = details.get("customer_seconds") or 0
        if customer == "completed" and seconds > 0:
            message.call_duration_seconds = seconds
            message.body = f"Outgoing call, {seconds} s"
            apply_status_update(message.tenant_id, message.id, DELIVERED)
        else:
            message.body = f"Outgoing call: {_words(customer)}"
            apply_status_update(
                message.tenant_id, message.id, FAILED, error_code=f"call_{customer}", error_message=message.body
            )
    elif staff in _NOT_CONNECTED:
        message.body = "Outgoing call not connected: your phone did not answer"
        apply_status_update(
            message.tenant_id, message.id, FAILED, error_code=f"staff_{staff}", error_message=message.body
        )
    elif staff is not None and message.delivery_status == "pending":
        apply_status_update(message.tenant_id, message.id, SENT)
    db.session.flush()


def _words(status: str | None) -> str:
    return {"busy": "busy", "no-answer": "no answer", "failed": "failed", "canceled": "canceled"}.get(
        status or "", "not connected"
    )


def call_target(tenant: Tenant, message_id: int) -> tuple[str, bool] | None:
    """(the customer's phone, record?) for a call of ours still being placed; None otherwise."""
    message = db.session.get(Message, message_id)
    if not _placed_by_us(tenant, message):
        return None
    if message.delivery_status not in ("pending", "sent"):
        return None
    conversation = db.session.get(Conversation, message.conversation_id)
    contact = db.session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    phone = (contact.phone if contact else None) or conversation.phone_number
    if not phone or (contact is not None and contact.calls_opted_out):
        return None
    return phone, bool((message.call_details or {}).get("record"))
