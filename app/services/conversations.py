"""Conversations: the single source of truth for a conversation's state.

Every change (create, update, assign, close, reopen, read) comes through here, whether it started
in the API, a webhook, a task or the CLI. Functions take the tenant and own the commit.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import ChannelUnavailable, Conflict
from app.extensions import db
from app.live import notify
from app.models import Contact, Conversation, Message, Tenant, UnreadTally
from app.models.base import aware, utcnow
from app.models.conversation import CHANNELS, PROVIDER_CHANNELS
from app.services.accounts import get_user
from app.services.contacts import SUMMARY_COLUMNS as CONTACT_SUMMARY_COLUMNS
from app.services.contacts import add_contact, contact_search_clause, get_contact, resolve_contact
from app.services.delivery_status import mark_inbound_read
from app.services.notifications import notify_assigned, notify_read
from app.services.queries import (
    Page,
    View,
    columns,
    contains,
    get_owned,
    in_subquery,
    insert_linked,
    insert_unless_taken,
    insert_values,
    on_postgresql,
    page,
)
from app.services.unit_of_work import conversation_exists, use_case

RECENT_MESSAGES = 50  # how many a conversation's detail view carries


def get_conversation(tenant: Tenant, conversation_id: int, *, for_update: bool = False) -> Conversation:
    return get_owned(Conversation, tenant.id, conversation_id, what="Conversation", for_update=for_update)


def list_conversations(
    tenant: Tenant,
    *,
    channel: str | None = None,
    status: str | None = None,
    contact_id: int | None = None,
    assigned_to: int | None = None,
    search: str | None = None,
    before: str | None = None,
    limit: int,
    offset: int,
) -> Page:
    """A page of the tenant's conversations, newest activity first, with contact, preview and unread count.

    `before` (the `next_before` of the previous page) continues after the last conversation seen,
    stable while new messages reorder the inbox; `offset` still works. The page's ids are picked
    first, from an index that orders them, and only those rows are read, as LIST_ITEM shows them.
    """
    matching = sa.select(Conversation.id, Conversation.last_message_at).where(Conversation.tenant_id == tenant.id)
    for column, value in (
        (Conversation.channel, channel),
        (Conversation.status, status),
        (Conversation.contact_id, contact_id),
        (Conversation.assigned_to, assigned_to),
    ):
        if value is not None:
            matching = matching.where(column == value)
    if before is not None:
        matching = matching.where(ACTIVITY_ORDER_KEY < ActivityCursor.parse(before).key())  # noqa: SIM300
    if search:
        # Two trigram index lookups, united: conversations of a matching contact, and web visitors or
        # phone threads matching themselves. (An OR of both would read every conversation.)
        contacts = sa.select(Contact.id).where(Contact.tenant_id == tenant.id, contact_search_clause(search))
        matching = sa.union(
            matching.where(in_subquery(Conversation.contact_id, contacts)),
            matching.where(contains(Conversation.search_text, search)),
        ).subquery()
    else:
        matching = matching.subquery()
    return page(
        sa.select(matching.c.id),
        order_by=(matching.c.last_message_at.desc(), matching.c.id.desc()),
        cursor_of=lambda conversation: str(ActivityCursor.of(conversation)),
        limit=limit,
        offset=offset,
        sorts_every_match=bool(search),
        view=LIST_ITEM,
    )


_conversations, _messages = Conversation.__table__.c, Message.__table__.c

# An inbox row (ConversationSchema): the conversation, what it shows of its contact
# (ContactSummarySchema) and a preview of its last message (MessagePreviewSchema).
LIST_ITEM = View(
    "ConversationListItem",
    from_=Conversation.__table__.outerjoin(
        Contact.__table__, Contact.__table__.c.id == _conversations.contact_id
    ).outerjoin(Message.__table__, _messages.id == _conversations.last_message_id),
    **columns(
        Conversation.__table__,
        "id",
        "channel",
        "status",
        "phone_number",
        "visitor_name",
        "visitor_email",
        "visitor_phone",
        "ghl_conversation_id",
        "contact_id",
        "assigned_to",
        "unread_count",
        "last_message_at",
    ),
    meta=_conversations.metadata,
    **columns(Conversation.__table__, "inserted_at", "updated_at"),
    contact=View("ContactSummary", **columns(Contact.__table__, *CONTACT_SUMMARY_COLUMNS)),
    last_message=View(
        "MessagePreview",
        **columns(Message.__table__, "id", "body", "direction", "sender_type", "delivery_status", "inserted_at"),
    ),
)


# A message as a conversation shows it, in its detail and its pages (MessageSchema).
MESSAGE_ITEM = View(
    "MessageListItem",
    from_=Message.__table__,
    **columns(
        Message.__table__,
        "id",
        "conversation_id",
        "body",
        "channel",
        "direction",
        "sender_type",
        "sender_id",
        "delivery_status",
        "ghl_message_id",
        "call_duration_seconds",
        "recording_url",
        "transcript",
        "attachments",
        "error_code",
        "error_message",
        "read_at",
        "inserted_at",
        "updated_at",
    ),
)


ACTIVITY_ORDER_KEY = sa.tuple_(Conversation.last_message_at, Conversation.id)


@dataclass(frozen=True)
class ActivityCursor:
    """Where a page of the inbox ended: the last conversation's activity time and id, as `<micros>_<id>`."""

    at: datetime
    id: int

    @classmethod
    def of(cls, conversation: Conversation) -> "ActivityCursor":
        return cls(aware(conversation.last_message_at), conversation.id)

    @classmethod
    def parse(cls, text: str) -> "ActivityCursor":
        micros, _, conversation_id = text.partition("_")
        return cls(datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(micros)), int(conversation_id))

    def key(self):
        return sa.tuple_(sa.literal(self.at, sa.DateTime(timezone=True)), sa.literal(self.id, sa.BigInteger))

    def __str__(self) -> str:
        return f"{(self.at - datetime.fromtimestamp(0, UTC)) // timedelta(microseconds=1)}_{self.id}"


def recent_messages(conversation: Conversation, limit: int = RECENT_MESSAGES) -> list:
    """The conversation's newest messages (as MESSAGE_ITEM reads them), oldest first."""
    newest_first = db.session.execute(
        sa.select(*MESSAGE_ITEM.columns)
        .where(_messages.conversation_id == conversation.id, _messages.tenant_id == conversation.tenant_id)
        .order_by(*NEWEST_FIRST)
        .limit(limit)
    ).all()
    return [MESSAGE_ITEM.read(row) for row in reversed(newest_first)]


@use_case(conflict=conversation_exists)
def create_conversation(
    tenant: Tenant,
    *,
    channel: str,
    contact_id: int | None = None,
    phone: str | None = None,
    assigned_to: int | None = None,
    metadata: dict | None = None,
    **visitor,
) -> Conversation:
    """Start a conversation. One open conversation per contact and channel: a second answers 409.

    A phone channel needs a provider: on a standalone account it answers 422 as the sends do.
    """
    if channel in PROVIDER_CHANNELS and not tenant.sms_provider:
        raise ChannelUnavailable()
    contact = get_contact(tenant, contact_id) if contact_id is not None else None
    if assigned_to is not None:
        get_user(tenant, assigned_to)
    if contact is None and phone:
        contact = resolve_contact(tenant, phone=phone)
    if contact is not None and (existing := find_open_conversation(tenant, contact, channel)) is not None:
        raise _already_open(existing.id)
    conversation = new_conversation(tenant, channel=channel, contact=contact, **visitor)
    conversation.assigned_to = assigned_to
    conversation.meta = metadata or {}
    notify.conversation_changed(conversation, notify.CONVERSATION_CREATED)
    return conversation


def new_conversation(tenant: Tenant, *, channel: str, contact: Contact | None, **visitor) -> Conversation:
    """Add (not commit) a new open conversation; its phone_number is the contact's for phone channels."""
    conversation = Conversation(**_new_conversation_values(tenant, channel, contact), **visitor)
    conversation.contact = contact
    db.session.add(conversation)
    return conversation


def _new_conversation_values(tenant: Tenant, channel: str, contact: Contact | None) -> dict:
    if channel not in CHANNELS:
        raise ValueError(channel)
    return {
        "tenant_id": tenant.id,
        "channel": channel,
        "status": "open",
        "contact_id": contact.id if contact is not None else None,
        "phone_number": contact.phone if contact is not None and channel in PROVIDER_CHANNELS else None,
        "last_message_at": utcnow(),
        "meta": {},
    }


def find_open_conversation(tenant: Tenant, contact: Contact, channel: str) -> Conversation | None:
    return db.session.scalar(_open_conversations(tenant.id, contact.id, channel))


def conversation_for_customer(tenant: Tenant, contact: Contact, channel: str) -> Conversation:
    """Where a customer's message goes: their open conversation on `channel`; else their latest closed
    one, reopened; else a new one.

    An archived conversation stays archived (it is out of the inbox on purpose). Safe when two
    deliveries race: both reopen the same row, or the unique open-per-contact index lets one start.
    """
    conversation = find_open_conversation(tenant, contact, channel)
    if conversation is not None:
        return conversation
    closed = db.session.scalar(
        sa.select(Conversation)
        .where(
            Conversation.tenant_id == tenant.id,
            Conversation.contact_id == contact.id,
            Conversation.channel == channel,
            Conversation.status == "closed",
        )
        .order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())
        .limit(1)
    )
    if closed is None:
        return find_or_start_open_conversation(tenant, contact, channel)
    try:
        with db.session.begin_nested():
            move_to(closed, "open")
    except (Conflict, IntegrityError):  # another delivery opened one for this contact and channel meanwhile
        return find_open_conversation(tenant, contact, channel)
    return closed


def _open_conversations(tenant_id: int, contact_id: int, channel: str):
    return sa.select(Conversation).where(
        Conversation.tenant_id == tenant_id,
        Conversation.contact_id == contact_id,
        Conversation.channel == channel,
        Conversation.status == "open",
    )


def find_or_start_open_conversation(tenant: Tenant, contact: Contact, channel: str) -> Conversation:
    """The contact's open conversation on `channel`, or a new one. Flushes; safe when two requests race."""
    return find_open_conversation(tenant, contact, channel) or start_open_conversation(tenant, contact, channel)


def start_open_conversation(tenant: Tenant, contact: Contact, channel: str) -> Conversation:
    """A new open conversation for the contact, or the one another request started meanwhile."""
    started = insert_unless_taken(Conversation, **_new_conversation_values(tenant, channel, contact))
    if started is None:  # the unique open-per-contact index: another request started it first
        return find_open_conversation(tenant, contact, channel)
    set_committed_value(started, "contact", contact)  # known already: the answer shows it without a query
    return started


@use_case(conflict=conversation_exists)
def update_conversation(
    tenant: Tenant, conversation_id: int, *, actor_id: int | None = None, **changes
) -> Conversation:
    conversation = get_conversation(tenant, conversation_id, for_update=True)
    before = (conversation.status, conversation.assigned_to)
    if "assigned_to" in changes and changes["assigned_to"] is not None:
        get_user(tenant, changes["assigned_to"])
    if "metadata" in changes:
        conversation.meta = changes.pop("metadata")
    status = changes.pop("status", None)
    for key, value in changes.items():
        setattr(conversation, key, value)
    if status is not None:
        move_to(conversation, status)
    if conversation.assigned_to != before[1]:
        notify_assigned(conversation, actor_id=actor_id)  # the assignee's phone, once this use case has committed
    notify.conversation_updated(conversation, *before)  # live streams
    return conversation


@use_case
def assign(
    tenant: Tenant,
    conversation_id: int,
    user_id: int | None,
    *,
    only_if_free_for: int | None = None,
    actor_id: int | None = None,
):
    """Assign to `user_id` (of the same tenant), or unassign with None. The row is locked meanwhile.

    `only_if_free_for` ("assign to me"): refuse with 409 when another user already has it, so two
    agents tapping at once cannot both believe they own the conversation.
    """
    conversation = get_conversation(tenant, conversation_id, for_update=True)
    if user_id is not None:
        get_user(tenant, user_id)
    if only_if_free_for is not None and conversation.assigned_to not in (None, only_if_free_for):
        raise Conflict(
            "Already assigned to someone else; send user_id to reassign it.",
            code="already_assigned",
            fields={"assigned_to": [conversation.assigned_to]},
        )
    changed = conversation.assigned_to != user_id
    conversation.assigned_to = user_id
    if changed:
        notify_assigned(conversation, actor_id=actor_id)  # the assignee's phone, unless they took it themselves
    notify.conversation_changed(conversation, notify.CONVERSATION_ASSIGNED)  # live streams
    return conversation


@use_case
def close(tenant: Tenant, conversation_id: int) -> Conversation:
    conversation = get_conversation(tenant, conversation_id, for_update=True)
    move_to(conversation, "closed")
    notify.conversation_changed(conversation, notify.CONVERSATION_CLOSED)
    return conversation


@use_case(conflict=conversation_exists)
def reopen(tenant: Tenant, conversation_id: int) -> Conversation:
    conversation = get_conversation(tenant, conversation_id, for_update=True)
    move_to(conversation, "open")
    notify.conversation_changed(conversation, notify.CONVERSATION_REOPENED)
    return conversation


def move_to(conversation: Conversation, status: str) -> None:
    """The one rule for status changes, whoever asks (API, a staff send, an update).

    An archived conversation cannot be closed (reopen it first); a conversation can be open only
    while its contact has no other open one on the same channel.
    """
    if status == conversation.status:
        return
    if status == "closed" and conversation.status == "archived":
        raise Conflict("An archived conversation cannot be closed; reopen it first.", code="conversation_archived")
    if status == "open" and conversation.contact_id is not None:
        other = db.session.scalar(
            _open_conversations(conversation.tenant_id, conversation.contact_id, conversation.channel)
            .with_only_columns(Conversation.id)
            .where(Conversation.id != conversation.id)
        )
        if other is not None:
            raise _already_open(other)
    conversation.status = status


def _already_open(conversation_id: int) -> Conflict:
    conflict = conversation_exists()
    conflict.fields = {"conversation_id": [conversation_id]}
    return conflict


@use_case
def mark_read(tenant: Tenant, conversation_id: int, *, up_to_message_id: int | None = None) -> tuple[Conversation, int]:
    """Mark the conversation's unread inbound messages read (all, or up to one message). Returns how many."""
    conversation = get_conversation(tenant, conversation_id)
    marked = mark_inbound_read(tenant.id, conversation.id, up_to_message_id=up_to_message_id)
    db.session.expire(conversation, ["unread_count"])  # the database's trigger changed it
    notify_read(conversation, marked)  # badges that counted these go down silently, after the commit
    if marked:
        notify.conversation_read(conversation)  # live streams
    return conversation, marked


# Built once: the badges are asked for often; building the statement anew was 7% of the request (bench/instructions.py).
_TENANT_TALLIES = sa.select(UnreadTally.channel, UnreadTally.messages, UnreadTally.conversations).where(
    UnreadTally.tenant_id == sa.bindparam("tenant_id")
)


def unread_counts(tenant: Tenant) -> dict:
    """Unread inbound messages for the tenant's badges: in total, per channel, and conversations touched.

    Archived conversations are out of the inbox, so they do not count. Read from the tallies the
    database keeps (app/models/unread_triggers.py): a few rows, whatever the tenant's history.
    """
    tallies = db.session.execute(_TENANT_TALLIES, {"tenant_id": tenant.id}).all()
    by_channel = dict.fromkeys(CHANNELS, 0)
    by_channel.update({channel: messages for channel, messages, _ in tallies})
    return {
        "total": sum(by_channel.values()),
        "conversations": sum(conversations for _, _, conversations in tallies),
        "by_channel": by_channel,
    }


def append_message(conversation: Conversation, message: Message) -> None:
    """Add `message` to `conversation` and, unless it is older history (a backfill), make it the latest activity."""
    message.conversation_id = conversation.id
    db.session.add(message)
    db.session.flush()
    if message.direction == "inbound" and message.read_at is None:
        db.session.expire(conversation, ["unread_count"])  # the database's trigger counted it
    _show_latest(conversation, message)


def start_with_message(tenant: Tenant, phone: str, channel: str, message: Message) -> tuple[Conversation, Message]:
    """A new number's contact, their open conversation on `channel`, and `message` (staff's, not yet
    in a conversation) as its first. On PostgreSQL one statement stores all three; when another
    request added the number meanwhile, or on SQLite, it takes the steps one by one."""
    if on_postgresql():
        contact = Contact(tenant_id=tenant.id, phone=phone)
        conversation = Conversation(**_new_conversation_values(tenant, channel, contact))
        values = {
            **insert_values(contact, prefix="contact"),
            **insert_values(conversation, prefix="conversation"),
            **insert_values(message, prefix="message"),
        }
        if stored := db.session.execute(_FIRST_MESSAGE, values).first():
            contact, conversation, message = stored
            set_committed_value(conversation, "contact", contact)
            _show_latest(conversation, message)
            return conversation, message
    conversation = find_or_start_open_conversation(tenant, add_contact(tenant, phone), channel)
    append_message(conversation, message)
    return conversation, message


def _first_message_statement() -> sa.Select:
    """Built once: a contact, a conversation of theirs and its message inserted by one statement, and
    the three rows selected as stored; no row when the contact's number is taken (the others then
    have no contact to point to)."""
    contact = insert_linked(Contact, "contact")
    conversation = insert_linked(Conversation, "conversation", contact_id=contact.c.id)
    message = insert_linked(Message, "message", conversation_id=conversation.c.id)
    stored_conversation = aliased(Conversation, conversation)
    return (
        sa.select(aliased(Contact, contact), stored_conversation, aliased(Message, message))
        .select_from(
            contact.join(conversation, conversation.c.contact_id == contact.c.id).join(
                message, message.c.conversation_id == conversation.c.id
            )
        )
        # Not joined as the relationships ask: this statement's snapshot cannot see the rows it
        # inserts, and start_with_message fills both in from the rows returned.
        .options(sa.orm.lazyload(stored_conversation.contact), sa.orm.lazyload(stored_conversation.last_message))
    )


_FIRST_MESSAGE = _first_message_statement()


def _show_latest(conversation: Conversation, message: Message) -> None:
    """The database's trigger made `message` the latest activity unless it is older history
    (app/models/last_message_trigger.py); the same rule here shows it on this object without an
    UPDATE or a reload."""
    first = conversation.last_message_id is None or conversation.last_message_at is None
    if first or aware(message.inserted_at) >= aware(conversation.last_message_at):
        set_committed_value(conversation, "last_message_at", message.inserted_at)
        set_committed_value(conversation, "last_message_id", message.id)
        set_committed_value(conversation, "updated_at", max(conversation.updated_at, message.inserted_at, key=aware))
        # Expired, it reloads from the session's identity map (the message is in it), no query.
        db.session.expire(conversation, ["last_message"])


# Messages are shown in the order they happened; the id breaks ties (and orders same-instant sends).
NEWEST_FIRST = (Message.inserted_at.desc(), Message.id.desc())
