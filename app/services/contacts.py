"""Contacts: the people a tenant talks to."""

import logging
import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Contact, Tenant
from app.models.base import utcnow
from app.providers.base import ProviderContact
from app.services.queries import View, columns, contains, get_owned, insert_unless_taken, page
from app.services.unit_of_work import contact_exists, use_case

log = logging.getLogger(__name__)

EDITABLE = ("first_name", "last_name", "phone", "email")


def get_contact(tenant: Tenant, contact_id: int) -> Contact:
    return get_owned(Contact, tenant.id, contact_id, what="Contact")


def contact_search_clause(text: str):
    """Match a contact by name, phone or email; digits typed any way match the stored E.164.

    Both read `search_text`, so one trigram index serves them.
    """
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 3 and digits != text and not re.search(r"[A-Za-z@]", text):
        return sa.or_(contains(Contact.search_text, text), contains(Contact.search_text, digits, case_sensitive=True))
    return contains(Contact.search_text, text)


_contacts = Contact.__table__.c

# What a conversation shows of its contact (ContactSummarySchema); a contacts row starts with it.
SUMMARY_COLUMNS = ("id", "first_name", "last_name", "phone", "email")

# A contact in the contacts list (ContactSchema); the opt-outs as Contact's properties read them.
LIST_ITEM = View(
    "ContactListItem",
    from_=Contact.__table__,
    **columns(Contact.__table__, *SUMMARY_COLUMNS, "ghl_contact_id"),
    sms_opted_out=_contacts.sms_opted_out_at.is_not(None),
    sms_opted_out_at=_contacts.sms_opted_out_at,
    calls_opted_out=_contacts.calls_opted_out_at.is_not(None),
    **columns(Contact.__table__, "inserted_at", "updated_at"),
)


def list_contacts(tenant: Tenant, *, search: str | None = None, limit: int, offset: int):
    matching = sa.select(Contact.id).where(Contact.tenant_id == tenant.id)
    if search:
        matching = matching.where(contact_search_clause(search))
    return page(
        matching,
        view=LIST_ITEM,
        order_by=(Contact.first_name, Contact.last_name, Contact.id),
        limit=limit,
        offset=offset,
    )


@use_case(conflict=contact_exists)
def create_contact(tenant: Tenant, **fields) -> Contact:
    contact = Contact(tenant_id=tenant.id)
    _apply(contact, fields)
    db.session.add(contact)
    return contact


OPT_IN_BY_CONTACT_ONLY = "Only the contact can opt back in, by texting START."


@use_case(conflict=contact_exists)
def update_contact(tenant: Tenant, contact_id: int, **fields) -> Contact:
    """Change a contact. Staff may opt a contact out of SMS, never back in.

    Carriers and the TCPA let only the contact lift an opt-out (START, handled by the inbound
    path), so clearing it here answers 422 and changes nothing.
    """
    contact = get_contact(tenant, contact_id)
    if fields.get("sms_opted_out") is False and contact.sms_opted_out:
        raise ValidationFailed(
            OPT_IN_BY_CONTACT_ONLY, code="opt_in_by_contact_only", fields={"sms_opted_out": [OPT_IN_BY_CONTACT_ONLY]}
        )
    _apply(contact, fields)
    return contact


def find_contact_by_phone(tenant: Tenant, phone: str | None) -> Contact | None:
    if not phone:
        return None
    return db.session.scalar(_CONTACT_BY_PHONE, {"tenant": tenant.id, "phone": phone})


# Built once: every send to a number and every inbound message looks a number up.
_CONTACT_BY_PHONE = sa.select(Contact).where(
    Contact.tenant_id == sa.bindparam("tenant"), Contact.phone == sa.bindparam("phone")
)


def find_contact_by_provider_id(tenant: Tenant, provider_contact_id: str | None) -> Contact | None:
    if not provider_contact_id:
        return None
    return db.session.scalar(
        sa.select(Contact).where(Contact.tenant_id == tenant.id, Contact.provider_contact_id == provider_contact_id)
    )


def find_contact(tenant: Tenant, *, phone: str | None = None, provider_contact_id: str | None = None):
    """The contact the provider's id names, else the one with this phone number, else None."""
    return find_contact_by_provider_id(tenant, provider_contact_id) or find_contact_by_phone(tenant, phone)


def resolve_contact(
    tenant: Tenant,
    *,
    phone: str | None = None,
    provider_contact_id: str | None = None,
    known_as: ProviderContact | None = None,
) -> Contact:
    """Our contact for someone a provider or staff names: by the provider's id, else by phone, else new.

    `phone` is E.164. `known_as` (the provider's directory entry) fills in names we lack. Flushes,
    never commits; safe when two deliveries race (the unique indexes let one insert, the other finds it).
    """
    contact = find_contact(tenant, phone=phone, provider_contact_id=provider_contact_id) or add_contact(tenant, phone)
    link_provider_contact(contact, provider_contact_id)
    if known_as is not None:
        contact.first_name = contact.first_name or known_as.first_name or None
        contact.last_name = contact.last_name or known_as.last_name or None
        contact.email = contact.email or known_as.email or None
    return contact


def add_contact(tenant: Tenant, phone: str | None) -> Contact:
    """A new contact for `phone`, or the one another request added between our lookup and now."""
    return insert_unless_taken(Contact, tenant_id=tenant.id, phone=phone) or find_contact_by_phone(tenant, phone)


def link_provider_contact(contact: Contact | None, provider_contact_id: str | None) -> None:
    """Keep the provider's id for our contact, so the next send skips the provider's lookup and webhooks find them.

    Another of our contacts may hold that id already (created from a webhook before the provider told
    us who it was), or ours may be linked to a second provider contact sharing the number: the link
    is left as it is, for staff to merge (merging is not built), rather than failing the caller.
    """
    if contact is None or not provider_contact_id or contact.provider_contact_id == provider_contact_id:
        return
    if contact.provider_contact_id is not None:
        log.warning("contact.second-provider-contact", extra={"tenant_id": contact.tenant_id, "contact_id": contact.id})
        return
    try:
        with db.session.begin_nested():
            contact.provider_contact_id = provider_contact_id
    except IntegrityError:
        log.warning(
            "contact.provider-id-held-by-another", extra={"tenant_id": contact.tenant_id, "contact_id": contact.id}
        )


def _apply(contact: Contact, fields: dict) -> None:
    for key in EDITABLE:
        if key in fields:
            setattr(contact, key, fields[key])
    if "sms_opted_out" in fields:
        set_opt_out(contact, fields["sms_opted_out"])
    if "calls_opted_out" in fields:  # the customer asked not to be called (texts are separate: STOP)
        opted_out = fields["calls_opted_out"]
        contact.calls_opted_out_at = (contact.calls_opted_out_at or utcnow()) if opted_out else None


def set_opt_out(contact: Contact, opted_out: bool) -> None:
    if opted_out and contact.sms_opted_out_at is None:
        contact.sms_opted_out_at = utcnow()
    elif not opted_out:
        contact.sms_opted_out_at = None
