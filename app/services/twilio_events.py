"""What Twilio's webhooks change, in the domain's words (the adapter translates the requests):
which tenant an account is, and who the caller or sender is.
"""

import logging
from collections.abc import Callable

import sqlalchemy as sa

from app.extensions import db
from app.models import Contact, Conversation, Message, Tenant
from app.phones import InvalidPhoneNumber, normalize_phone
from app.providers import twilio_call_payloads, twilio_payloads
from app.providers.base import DeliveryReport
from app.providers.twilio_payloads import (  # the webhook view's words for what Twilio sent
    INBOUND_CALL,  # noqa: F401
    INBOUND_MESSAGE,  # noqa: F401
    MESSAGE_STATUS,  # noqa: F401
    RECORDING,  # noqa: F401
    REFERENCE,  # noqa: F401
    UnknownEvent,
    classify,  # noqa: F401
)
from app.services.calls import apply_placed_call_report
from app.services.contacts import resolve_contact, set_opt_out
from app.services.delivery_status import apply_delivery_report
from app.services.inbound import record_reported
from app.services.settings import account_sid_digest
from app.services.unit_of_work import use_case

log = logging.getLogger(__name__)


class UnknownTenant(LookupError):
    pass


class BadSignature(PermissionError):
    pass


# Built once: every Twilio webhook runs it, and building it cost about as much CPU as running it.
_TENANTS_OF_ACCOUNT = (
    sa.select(Tenant)
    .where(Tenant.twilio_account_sid_digest == sa.bindparam("digest"), Tenant.sms_provider == "twilio")
    .order_by(Tenant.id)
)


def find_tenant(params: dict, signed_by: Callable[[Tenant], bool]) -> Tenant | None:
    """The tenant whose Twilio account sent this, proven by its auth token's signature.

    By AccountSid first; when one account serves several tenants, the number or messaging service
    involved (or the call or message we already stored) says whose it is. Only a tenant whose auth
    token validates the signature can be chosen, so a tenant that copies another's account SID and
    number into its settings neither receives nor blocks the other's traffic.
    Raises UnknownTenant when no tenant has this account, BadSignature when none signed it.
    """
    digest = account_sid_digest(params.get("AccountSid"))
    candidates = list(db.session.scalars(_TENANTS_OF_ACCOUNT, {"digest": digest})) if digest is not None else []
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


@use_case
def handle_twilio_event(tenant: Tenant, event_type: str, params: dict) -> None:
    if event_type in twilio_call_payloads.EVENT_TYPES:  # a call we placed (services/calls.py)
        return apply_placed_call_report(tenant, twilio_call_payloads.translate(event_type, params))
    event = twilio_payloads.translate(event_type, params)
    if event is None:
        return
    if isinstance(event, DeliveryReport):
        message = apply_delivery_report(tenant.id, event)
        if message is not None and event.recipient_opted_out:
            _mark_opted_out(message)
        return
    record_reported(tenant, event, contact_for=lambda: _contact(tenant, event.sender_phone))


def _contact(tenant: Tenant, address: str) -> Contact:
    try:
        return resolve_contact(tenant, phone=normalize_phone(address))
    except InvalidPhoneNumber as exc:
        raise UnknownEvent("The sender is not a phone number.") from exc


def _mark_opted_out(message: Message) -> None:
    conversation = db.session.get(Conversation, message.conversation_id)
    if conversation.contact_id:
        set_opt_out(db.session.get(Contact, conversation.contact_id), True)


def _bare(address: str | None) -> str | None:
    return address.removeprefix("whatsapp:") if address else None
