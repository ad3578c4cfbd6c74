"""Backfill a tenant's recent GHL conversations and messages (the other half of the two-way sync).

Paged through GHL's API, within the tenant's GHL rate limit, resumable (the cursor is kept on the
tenant after every page) and idempotent (messages are keyed by their GHL id, so running it twice
changes nothing). Live traffic keeps arriving through /webhooks/ghl meanwhile. When GHL's budget
is spent it raises RetryLater after saving its place: the task (or the CLI) comes back for the rest.
"""

import logging
import time

from app.extensions import db
from app.models import Tenant
from app.models.base import utcnow
from app.phones import phone_or_none
from app.providers.base import HistoryConversation, ProviderDirectory
from app.services.contacts import resolve_contact
from app.services.ghl_events import record_ghl_message
from app.services.provider_registry import ProviderNotConfigured, directory_for
from app.services.rate_limits import take_slot_or_retry_later
from app.services.retries import RetryLater
from app.services.unit_of_work import commit_step, use_case

log = logging.getLogger(__name__)


class NotAGhlTenant(Exception):
    pass


@use_case
def sync_tenant(tenant_id: int, *, max_conversations: int = 200, messages_per_conversation: int = 200, restart=False):
    """Import up to `max_conversations` of the most recently active GHL conversations. Returns a summary."""
    tenant = db.session.get(Tenant, tenant_id)
    try:
        directory = directory_for(tenant) if tenant is not None else None
    except ProviderNotConfigured:
        directory = None
    if directory is None:
        raise NotAGhlTenant(f"Tenant {tenant_id} does not use GHL.")
    state = _resumed_state(tenant, restart)
    while state["conversations"] < max_conversations:
        page = _call(directory, lambda: directory.conversations_page(state.get("cursor")))
        conversations, messages = 0, 0  # saved with the cursor: a page cut short by the budget is redone whole
        for conversation in page.items[: max_conversations - state["conversations"]]:
            messages += _import_conversation(tenant, directory, conversation, messages_per_conversation)
            conversations += 1
            log.info(
                "ghl.sync-progress",
                extra={
                    "tenant_id": tenant_id,
                    "conversations": state["conversations"] + conversations,
                    "messages": state["messages"] + messages,
                    "of_at_most": max_conversations,
                },
            )
        state.update(
            cursor=page.next_cursor,
            conversations=state["conversations"] + conversations,
            messages=state["messages"] + messages,
        )
        _save(tenant, state)
        if page.next_cursor is None or not page.items:
            break
    state.update(cursor=None, finished_at=utcnow().isoformat())
    _save(tenant, state)
    log.info("ghl.sync-finished", extra={"tenant_id": tenant_id, "conversations": state["conversations"]})
    return state


def sync_tenant_waiting(tenant_id: int, *, restart: bool = False, **limits) -> dict:
    """sync_tenant for a foreground process (the CLI), which may sleep while GHL's budget refills."""
    while True:
        try:
            return sync_tenant(tenant_id, restart=restart, **limits)
        except RetryLater as later:
            log.info("ghl.sync-waiting", extra={"tenant_id": tenant_id, "wait_seconds": round(later.countdown, 1)})
            time.sleep(later.countdown)
            restart = False  # resume from the saved cursor


def _resumed_state(tenant: Tenant, restart: bool) -> dict:
    previous = tenant.ghl_sync_state or {}
    state = {} if restart or previous.get("finished_at") else dict(previous)
    state.setdefault("started_at", utcnow().isoformat())
    state.setdefault("conversations", 0)
    state.setdefault("messages", 0)
    return state


def _import_conversation(tenant: Tenant, directory: ProviderDirectory, conversation: HistoryConversation, limit):
    known_as = conversation.contact
    contact = resolve_contact(
        tenant,
        phone=phone_or_none(known_as.phone),
        provider_contact_id=known_as.provider_contact_id,
        known_as=known_as,
    )
    commit_step()
    imported, cursor = 0, None
    while imported < limit:
        size = min(100, limit - imported)
        page = _call(directory, lambda c=cursor, n=size: directory.messages_page(conversation, c, n))
        # GHL pages newest first; store oldest first so the thread's order and last message come out right.
        for message in reversed(page.items):
            record_ghl_message(tenant, message)
        commit_step()
        imported += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    log.debug("ghl.sync-conversation", extra={"tenant_id": tenant.id, "contact_id": contact.id})
    return imported


def _call(directory: ProviderDirectory, read):
    """One call to GHL within the location's budget (shared with sends), holding no transaction."""
    commit_step()
    take_slot_or_retry_later(directory.rate_budget)
    return read()


def _figures(state: dict, max_conversations: int) -> dict:
    return {"conversations": state["conversations"], "messages": state["messages"], "of_at_most": max_conversations}


def _save(tenant: Tenant, state: dict) -> None:
    tenant.ghl_sync_state = dict(state)
    commit_step()
