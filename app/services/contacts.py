"""Contacts: the people a tenant talks to."""

import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Contact, Tenant
from app.models.base import utcnow
from app.services.queries import contains, get_owned, page

EDITABLE = ("first_name", "last_name", "phone", "email")


def get_contact(tenant: Tenant, contact_id: int) -> Contact:
    return get_owned(Contact, tenant.id, contact_id, what="Contact")


def contact_search_clause(text: str):
    """Match a contact by name, phone or email; digits typed any way match the stored E.164."""
    full_name = sa.func.coalesce(Contact.first_name, "") + " " + sa.func.coalesce(Contact.last_name, "")
    clauses = [contains(full_name, text), contains(Contact.email, text), contains(Contact.phone, text)]
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 3 and not re.search(r"[A-Za-z@]", text):
        clauses.append(contains(Contact.phone, digits, case_sensitive=True))
    return sa.or_(*clauses)


def list_contacts(tenant: Tenant, *, search: str | None = None, limit: int, offset: int):
    query = sa.select(Contact).where(Contact.tenant_id == tenant.id)
    if search:
        query = query.where(contact_search_clause(search))
    return page(query.order_by(Contact.first_name, Contact.last_name, Contact.id), limit=limit, offset=offset)


def create_contact(tenant: Tenant, **fields) -> Contact:
    contact = Contact(tenant_id=tenant.id)
    _apply(contact, fields)
    db.session.add(contact)
    _commit_unique_phone()
    return contact


OPT_IN_BY_CONTACT_ONLY = "Only the contact can opt back in, by texting START."


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
    _commit_unique_phone()
    return contact


def find_contact_by_phone(tenant: Tenant, phone: str) -> Contact | None:
    return db.session.scalar(sa.select(Contact).where(Contact.tenant_id == tenant.id, Contact.phone == phone))


def find_or_create_by_phone(tenant: Tenant, phone: str) -> Contact:
    """The tenant's contact with this E.164 number, created if new. Safe when two requests race.

    Flushes, never commits: the caller's transaction decides.
    """
    contact = find_contact_by_phone(tenant, phone)
    if contact is not None:
        return contact
    try:
        with db.session.begin_nested():
            contact = Contact(tenant_id=tenant.id, phone=phone)
            db.session.add(contact)
    except IntegrityError:  # another request created it between our select and insert
        contact = find_contact_by_phone(tenant, phone)
    return contact


def _apply(contact: Contact, fields: dict) -> None:
    for key in EDITABLE:
        if key in fields:
            setattr(contact, key, fields[key])
    if "sms_opted_out" in fields:
        set_opt_out(contact, fields["sms_opted_out"])


def set_opt_out(contact: Contact, opted_out: bool) -> None:
    if opted_out and contact.sms_opted_out_at is None:
        contact.sms_opted_out_at = utcnow()
    elif not opted_out:
        contact.sms_opted_out_at = None


def _commit_unique_phone() -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "Another contact already has this phone number.",
            code="contact_exists",
            fields={"phone": ["Already used by another contact."]},
        ) from exc
