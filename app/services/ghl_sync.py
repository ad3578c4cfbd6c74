"""Backfill a tenant's recent GHL conversations and messages (the other half of the two-way sync).

Paged through GHL's API, within the tenant's GHL rate limit, resumable (the cursor is kept on the
tenant after every page) and idempotent (messages are keyed by their GHL id, so running it twice
changes nothing). Live traffic keeps arriving through /webhooks/ghl meanwhile.
"""

import logging
import time

import sqlalchemy as sa

from app.extensions import db
from app.models import Contact, Tenant
from app.models.base import utcnow
from app.phones import phone_or_none
from app.services.contacts import find_contact_by_phone
from app.services.ghl_events import import_history_message
from app.services.provider_registry import provider_for
from app.services.rate_limits import budget_for, wait_for_slot
from app.text import clean_payload

log = logging.getLogger(__name__)

PAGE_SIZE = 50


class NotAGhlTenant(Exception):
    pass


def sync_tenant(tenant_id: int, *, max_conversations: int = 200, messages_per_conversation: int = 200, restart=False):
    """Import up to `max_conversations` of the most recently active GHL conversations. Returns a summary."""
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or tenant.sms_provider != "ghl":
        raise NotAGhlTenant(f"Tenant {tenant_id} does not use GHL.")
    provider = provider_for(tenant)
    budget = budget_for(tenant)
    state = {} if restart or (tenant.ghl_sync_state or {}).get("finished_at") else dict(tenant.ghl_sync_state or {})
    state.setdefault("started_at", utcnow().isoformat())
    state.setdefault("conversations", 0)
    state.setdefault("messages", 0)
    cursor = state.get("cursor")
    while state["conversations"] < max_conversations:
        _before_calling_ghl(budget)
        conversations, next_cursor = provider.search_conversations(limit=PAGE_SIZE, start_after=cursor)
        for conversation in conversations[: max_conversations - state["conversations"]]:
            state["messages"] += _import_conversation(tenant, provider, budget, conversation, messages_per_conversation)
            state["conversations"] += 1
            log.info("ghl.sync-progress", extra={"tenant_id": tenant_id, **_figures(state, max_conversations)})
        cursor = next_cursor
        _save(tenant, {**state, "cursor": cursor})
        if cursor is None or not conversations:
            break
    state.update(cursor=None, finished_at=utcnow().isoformat())
    _save(tenant, state)
    log.info(
        "ghl.sync-finished", extra={"tenant_id": tenant_id, **{k: state[k] for k in ("conversations", "messages")}}
    )
    return state


def _import_conversation(tenant: Tenant, provider, budget, conversation: dict, limit: int) -> int:
    _ensure_contact(tenant, conversation)
    imported, last_message_id = 0, None
    while imported < limit:
        _before_calling_ghl(budget)
        messages, last_message_id = provider.list_messages(
            conversation["id"], limit=min(100, limit - imported), last_message_id=last_message_id
        )
        # GHL pages newest first; store oldest first so the thread's order and last message come out right.
        for message in reversed(clean_payload(messages)):  # GHL's text may hold a NUL: stored, not refused
            import_history_message(
                tenant,
                {"contactId": conversation.get("contactId"), **message, "conversationId": conversation["id"]},
            )
        imported += len(messages)
        if last_message_id is None or not messages:
            break
    return imported


def _ensure_contact(tenant: Tenant, conversation: dict) -> Contact:
    """Our contact for a GHL conversation's contact: by GHL id, else by phone, else new; names filled in."""
    ghl_contact_id = conversation.get("contactId")
    contact = db.session.scalar(
        sa.select(Contact).where(Contact.tenant_id == tenant.id, Contact.ghl_contact_id == ghl_contact_id)
    )
    phone = phone_or_none(conversation.get("phone"))
    if contact is None and phone:
        contact = find_contact_by_phone(tenant, phone)
    if contact is None:
        contact = Contact(tenant_id=tenant.id, phone=phone)
        db.session.add(contact)
    contact.ghl_contact_id = contact.ghl_contact_id or ghl_contact_id
    first, _, last = (conversation.get("fullName") or conversation.get("contactName") or "").partition(" ")
    contact.first_name = contact.first_name or first or None
    contact.last_name = contact.last_name or last or None
    contact.email = contact.email or conversation.get("email")
    db.session.commit()
    return contact


def _before_calling_ghl(budget) -> None:
    db.session.commit()  # hold no transaction (nor connection) while waiting or while GHL answers
    # A background job can simply wait for its turn in the location's budget (shared with sends).
    while wait := wait_for_slot(budget):
        log.info("ghl.sync-waiting", extra={"wait_seconds": round(wait, 1)})  # GHL's rate limit, shared with sends
        time.sleep(wait)


def _figures(state: dict, max_conversations: int) -> dict:
    return {"conversations": state["conversations"], "messages": state["messages"], "of_at_most": max_conversations}


def _save(tenant: Tenant, state: dict) -> None:
    tenant.ghl_sync_state = state
    db.session.commit()
