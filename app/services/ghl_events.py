"""What GHL's events change, in the domain's words (the GHL adapter translates the payloads).

The decisions that are ours: which tenant a location is, who the contact is (GHL names contacts
only by id, so an unknown one is looked up in GHL's directory first), and whether an outbound
copy is a message we sent ourselves.
"""

import logging
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Contact, Conversation, Message, Tenant
from app.models.base import aware, utcnow
from app.phones import phone_or_none
from app.providers import ghl_payloads
from app.providers.base import DeliveryReport, OptOutChange, ProviderContact, ProviderError, ProviderMessage
from app.providers.ghl_payloads import event_key, event_type, parse_timestamp  # noqa: F401 (the webhook view's words)
from app.services.contacts import find_contact, find_contact_by_provider_id, resolve_contact, set_opt_out
from app.services.delivery_status import apply_delivery_report, find_by_provider_id
from app.services.inbound import record_reported
from app.services.provider_registry import directory_for
from app.services.queries import lock_until_commit
from app.services.rate_limits import take_slot_or_retry_later
from app.services.unit_of_work import commit_step, use_case

log = logging.getLogger(__name__)

ADOPT_WINDOW = timedelta(minutes=10)


def find_tenant(payload: dict) -> Tenant | None:
    location_id = payload.get("locationId")
    if not location_id:
        return None
    # A tenant that moved to another provider no longer takes GHL's events (they would duplicate).
    return db.session.scalar(
        sa.select(Tenant).where(Tenant.ghl_location_id == location_id, Tenant.sms_provider == "ghl")
    )


@use_case
def handle_ghl_event(tenant: Tenant, kind: str, payload: dict) -> None:
    try:
        event = ghl_payloads.translate(kind, payload)
    except ghl_payloads.Unsupported as unsupported:
        log.info("webhook.ghl.ignored", extra={"tenant_id": tenant.id, "event_type": kind, "why": str(unsupported)})
        return
    if isinstance(event, ProviderMessage):
        record_ghl_message(tenant, event)
    elif isinstance(event, DeliveryReport):
        apply_delivery_report(tenant.id, event)
    elif isinstance(event, OptOutChange) and (
        contact := find_contact_by_provider_id(tenant, event.provider_contact_id)
    ):
        set_opt_out(contact, event.opted_out)


@use_case
def record_ghl_message(tenant: Tenant, reported: ProviderMessage) -> None:
    """A message GHL reports (webhook or history), stored once. A copy of an outbound message may be
    our own send, reported before our worker recorded GHL's id for it: that one is adopted."""
    ours = reported.direction == "outbound" and not reported.history
    if ours and find_by_provider_id(tenant.id, reported.ids.message) is None:
        _adopt_our_send(tenant, reported)
    record_reported(tenant, reported, contact_for=lambda: _contact(tenant, reported))


def _adopt_our_send(tenant: Tenant, reported: ProviderMessage) -> Message | None:
    """GHL can report our own send before our worker has stored GHL's id for it: find that message.

    Same contact, same body, in a worker's hands right now (a failed or not-yet-claimed message
    cannot be the one GHL sent), sent by us in the last minutes and not yet carrying a provider id.
    """
    contact = find_contact(tenant, phone=phone_or_none(reported.sender_phone), provider_contact_id=reported.ids.contact)
    if contact is None:
        return None
    candidate = db.session.scalar(
        sa.select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.tenant_id == tenant.id,
            Conversation.contact_id == contact.id,
            Message.direction == "outbound",
            Message.provider_message_id.is_(None),
            Message.sender_id.is_not(None),
            Message.delivery_status == "pending",
            Message.claimed_at.is_not(None),
            Message.body == reported.body,
            Message.inserted_at > utcnow() - ADOPT_WINDOW,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if candidate is None or aware(candidate.inserted_at) <= utcnow() - ADOPT_WINDOW:
        return None
    candidate.provider_message_id = candidate.ghl_message_id = reported.ids.message
    commit_step()  # the worker that holds it must find the id taken when it records its receipt
    return candidate


def _contact(tenant: Tenant, reported: ProviderMessage) -> Contact:
    """Our contact for the event's GHL contact: by GHL id, else by phone, else a new one.

    GHL's message events name the contact only by id. Before creating a contact we ask GHL who it
    is, so someone we already know by phone is linked, not duplicated as a nameless twin.
    """
    provider_contact_id = reported.ids.contact
    phone = phone_or_none(reported.sender_phone)
    known_as = None
    if provider_contact_id and find_contact(tenant, phone=phone, provider_contact_id=provider_contact_id) is None:
        known_as = _ghl_directory_entry(tenant, provider_contact_id)
        phone = phone or phone_or_none(known_as.phone if known_as else None)
    # Two deliveries about one new GHL contact, processed at once, would both create it.
    lock_until_commit(f"ghl-contact:{tenant.id}:{provider_contact_id}" if provider_contact_id else None)
    return resolve_contact(tenant, phone=phone, provider_contact_id=provider_contact_id, known_as=known_as)


def _ghl_directory_entry(tenant: Tenant, provider_contact_id: str) -> ProviderContact | None:
    """The contact as GHL knows it; None when GHL does not know it. A transient failure raises, so the
    event is retried rather than stored under a contact we could not identify."""
    directory = directory_for(tenant)
    commit_step()  # no transaction held while GHL answers
    take_slot_or_retry_later(directory.rate_budget)  # within the location's GHL budget, like sends
    try:
        return directory.get_contact(provider_contact_id)
    except ProviderError as error:
        if error.transient:
            raise
        log.info("webhook.ghl.contact-unknown", extra={"tenant_id": tenant.id, "code": error.code})
        return None
