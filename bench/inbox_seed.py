"""A realistic inbox written straight into PostgreSQL with COPY: contacts, conversations, messages.

Used by bench/inbox.py (up to 100,000 conversations and 1,000,000 messages for one tenant) and by
its smoke test. The schema comes from the migrations; the tenant and its users already exist (the
bench makes them through the app, so secrets are encrypted as in production).

What the app relies on is kept: `last_message_id`/`last_message_at` name each conversation's newest
message (filled by SQL after the COPY), at most one open conversation per (contact, channel), a
unique 64-hex `visitor_token` per conversation, unique E.164 phones per tenant, unique provider ids,
every NOT NULL column filled. Message ids grow with time, as they do in production, so a
conversation's messages are spread over the table as a real one's are.

Shape: ~80% sms, 10% web (visitors without a contact), 6% whatsapp, 4% voice; ~20% open, ~5%
archived, the rest closed; a third assigned to staff; surnames Zipf-distributed (so a search for
one hits a realistic share); half the messages inbound; 5% of inbound unread, on the latest
inbound messages of the most recently active conversations (the customers awaiting a reply).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Rebecca",
    "Jason",
    "Sharon",
    "Edward",
    "Laura",
    "Jeffrey",
    "Cynthia",
    "Ryan",
    "Amy",
    "Jacob",
    "Kathleen",
    "Gary",
    "Angela",
    "Nicholas",
    "Shirley",
    "Eric",
    "Brenda",
    "Jonathan",
    "Emma",
]
# Ordered by frequency: the weights below are Zipf's, so SURNAMES[0] is the most common.
SURNAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
]
# One thread exactly this long at every size, for the requests that read a thread (get, messages,
# their second page): the same work at 10k and at 1M, so their growth is the data's, not the thread's.
MEASURED_THREAD = 120
SEARCH_SURNAME = "Hernandez"  # rank 11: about 1.8% of contacts, as a common-but-not-top surname would be
AREA_CODES = ("212", "312", "415", "617", "206", "305", "512", "303", "404", "702")
INBOUND_TEXTS = (
    "Hi, is my order ready for pickup?",
    "Can I move my appointment to Thursday?",
    "What time do you open tomorrow?",
    "Thanks, see you then!",
    "Do you have the part in stock?",
    "I sent the photos, did you get them?",
    "Running 10 minutes late, sorry",
    "How much would that cost?",
    "Yes please go ahead",
    "Can someone call me back?",
    "Is there parking nearby?",
    "Perfect, thank you so much",
)
OUTBOUND_TEXTS = (
    "Hi! Your order is ready for pickup.",
    "Thanks for reaching out, we will get back to you shortly.",
    "Your appointment is confirmed for tomorrow at 10am.",
    "We open at 8am, see you then.",
    "Yes, we have it in stock. Want us to hold one for you?",
    "The estimate is $120 including parts and labour.",
    "No problem, thanks for letting us know.",
    "Got them, thank you! We will review and reply today.",
    "Reminder: your service visit is on Friday.",
    "Happy to help. Anything else?",
)
DAY = 86400.0
STATUS_POLL_GIVE_UP = 3 * DAY  # STATUS_POLL_GIVE_UP_SECONDS' default


@dataclass
class SeedSize:
    conversations: int
    contacts: int
    messages: int

    @classmethod
    def for_messages(cls, messages: int) -> SeedSize:
        """The issue's proportions: 10 messages per conversation, 2 conversations per contact."""
        conversations = max(1, messages // 10)
        return cls(conversations=conversations, contacts=max(1, conversations // 2), messages=messages)


@dataclass
class Seeded:
    tenant_id: int
    conversations: int = 0
    contacts: int = 0
    messages: int = 0
    inbound: int = 0
    unread: int = 0
    seconds: float = 0.0
    phones: list[str] = field(default_factory=list)


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _reserve_ids(conn: psycopg.Connection, table: str, count: int) -> int:
    """The first of `count` ids taken from the table's sequence (setval is not rolled back: no reuse)."""
    sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
    first = conn.execute("SELECT nextval(%s)", (sequence,)).fetchone()[0]
    conn.execute("SELECT setval(%s, %s)", (sequence, first + count))
    return first


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], lines) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        chunk = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= 5000:
                copy.write("".join(chunk))
                chunk.clear()
        if chunk:
            copy.write("".join(chunk))


def _row(*values) -> str:
    return "\t".join(r"\N" if v is None else str(v) for v in values) + "\n"


def check_columns(conn: psycopg.Connection, table: str, columns: tuple[str, ...]) -> None:
    """Refuse to seed a schema with a NOT NULL column this seeder does not fill (a newer migration)."""
    missing = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s"
        " AND is_nullable = 'NO' AND column_default IS NULL AND NOT (column_name = ANY(%s))",
        (table, list(columns)),
    ).fetchall()
    if missing:
        raise RuntimeError(f"{table}: NOT NULL columns without a default the seeder does not fill: {missing}")


def _secondary_indexes(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that no constraint owns (those can be dropped and rebuilt)."""
    return conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = %s::regclass"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        (table,),
    ).fetchall()


CONTACT_COLUMNS = ("id", "tenant_id", "first_name", "last_name", "phone", "email", "inserted_at", "updated_at")
CONVERSATION_COLUMNS = (
    "id",
    "tenant_id",
    "channel",
    "status",
    "phone_number",
    "visitor_name",
    "visitor_email",
    "visitor_token",
    "contact_id",
    "assigned_to",
    "metadata",
    "last_message_at",  # the conversation's start until the SQL after the COPY sets its newest message's
    "inserted_at",
    "updated_at",
)
MESSAGE_COLUMNS = (
    "id",
    "tenant_id",
    "conversation_id",
    "sender_id",
    "sender_type",
    "body",
    "channel",
    "direction",
    "delivery_status",
    "provider_message_id",
    "call_duration_seconds",
    "attachments",
    "error_code",
    "error_message",
    "send_attempts",
    "sent_at",
    "read_at",
    "inserted_at",
    "updated_at",
)


def seed_tenant(
    conn: psycopg.Connection,
    *,
    tenant_id: int,
    size: SeedSize,
    user_ids: list[int],
    now: float,
    seed: int = 14,
    unread_share: float = 0.05,
    rebuild_indexes: bool = True,
) -> Seeded:
    """COPY one tenant's contacts, conversations and messages; fill the derived columns. No commit.

    `rebuild_indexes` drops the three tables' secondary indexes for the COPY and rebuilds them after
    (much faster at a million rows); the smoke test leaves them in place.
    """
    import time

    started = time.perf_counter()
    rng = random.Random(seed * 1000 + tenant_id)  # noqa: S311 (test data)
    for table, columns in (
        ("contacts", CONTACT_COLUMNS),
        ("conversations", CONVERSATION_COLUMNS),
        ("messages", MESSAGE_COLUMNS),
    ):
        check_columns(conn, table, columns)
    result = Seeded(tenant_id=tenant_id)

    # -- contacts: unique phones per tenant (the index number is the subscriber number)
    surname_weights = [1 / (rank + 1) for rank in range(len(SURNAMES))]
    surname_cum = [sum(surname_weights[: i + 1]) for i in range(len(SURNAMES))]
    first_contact = _reserve_ids(conn, "contacts", size.contacts)
    contacts = []  # (id, first, last, phone)
    for index in range(size.contacts):
        first = rng.choice(FIRST_NAMES)
        last = rng.choices(SURNAMES, cum_weights=surname_cum)[0]
        phone = f"+1{AREA_CODES[index % len(AREA_CODES)]}{2000000 + index:07d}"
        contacts.append((first_contact + index, first, last, phone))
    result.phones = [c[3] for c in contacts]

    # -- conversations
    first_conversation = _reserve_ids(conn, "conversations", size.conversations)
    channels = rng.choices(("sms", "web", "whatsapp", "voice"), weights=(80, 10, 6, 4), k=size.conversations)
    open_pairs: set[tuple[int, str]] = set()
    conversations = []  # dicts: id, channel, status, contact, assigned, last_at, messages
    for index in range(size.conversations):
        channel = channels[index]
        roll = rng.random()
        status = "archived" if roll < 0.05 else "open" if roll < 0.27 else "closed"
        # Recent activity is denser than old (a year of history, skewed to the last weeks).
        last_at = now - 365 * DAY * rng.random() ** 2.5 - rng.random() * 60
        if status == "open":
            last_at = now - 30 * DAY * rng.random() ** 2 - rng.random() * 60
        contact = None if channel == "web" else contacts[rng.randrange(size.contacts)]
        if contact is not None and status == "open":
            if (contact[0], channel) in open_pairs:  # one open conversation per contact and channel
                status = "closed"
            else:
                open_pairs.add((contact[0], channel))
        assigned = rng.choice(user_ids) if user_ids and rng.random() < 0.35 else None
        conversations.append(
            {"id": first_conversation + index, "channel": channel, "status": status, "contact": contact}
            | {"assigned": assigned, "last_at": last_at}
        )

    # -- message counts: heavy-tailed (most threads are short, a few run to hundreds), exact total
    counts = [1 + min(int(rng.expovariate(1 / 8.0)), 400) for _ in conversations]
    counts[0] = MEASURED_THREAD
    difference = size.messages - sum(counts)
    while difference != 0:
        index = rng.randrange(1, len(counts))  # the measured thread keeps its length
        if difference > 0:
            step = min(difference, 5)
            counts[index] += step
            difference -= step
        elif counts[index] > 1:
            counts[index] -= 1
            difference += 1

    # -- messages per conversation, oldest first: (time, conversation index, inbound)
    threads = []
    for index, conversation in enumerate(conversations):
        moment = conversation["last_at"]
        times = [moment]
        for _ in range(counts[index] - 1):
            moment -= rng.expovariate(1 / (6 * 3600.0))
            times.append(moment)
        times.reverse()
        inbound = rng.random() < 0.7  # customers usually start
        directions = []
        for _ in times:
            directions.append(inbound)
            if rng.random() < 0.6:
                inbound = not inbound
        threads.append((times, directions))

    # -- unread: the trailing inbound messages (no reply yet) of the most recently active conversations
    inbound_total = sum(sum(d) for _, d in threads)
    quota = round(inbound_total * unread_share)
    unread_tail = [0] * len(conversations)
    for index in sorted(range(len(conversations)), key=lambda i: -conversations[i]["last_at"]):
        if quota <= 0:
            break
        if conversations[index]["status"] == "archived" or rng.random() < 0.3:
            continue
        directions = threads[index][1]
        tail = 0
        while tail < len(directions) and directions[-1 - tail] and tail < quota:
            tail += 1
        unread_tail[index] = tail
        quota -= tail

    rows = []
    for index, (times, directions) in enumerate(threads):
        unread_from = len(times) - unread_tail[index]
        for position, (moment, inbound) in enumerate(zip(times, directions, strict=True)):
            rows.append((moment, index, inbound, position >= unread_from))
    rows.sort()
    first_message = _reserve_ids(conn, "messages", len(rows))

    def message_lines():
        for offset, (moment, index, inbound, unread) in enumerate(rows):
            conversation = conversations[index]
            channel = conversation["channel"]
            message_id = first_message + offset
            at = _ts(moment)
            provider_id = duration = error_code = error_message = sent_at = read_at = sender = None
            if channel in ("sms", "whatsapp"):
                provider_id = f"SM{tenant_id:06x}{message_id:026x}"
            elif channel == "voice":
                provider_id = f"CA{tenant_id:06x}{message_id:026x}"
                duration = rng.randrange(15, 600)
            if inbound:
                body = "Inbound call" if channel == "voice" else rng.choice(INBOUND_TEXTS)
                sender_type, status, attempts = "visitor", "delivered", 0
                read_at = None if unread else _ts(moment + rng.uniform(30, 4 * 3600))
            else:
                body = "Outbound call" if channel == "voice" else rng.choice(OUTBOUND_TEXTS)
                sender_type, attempts = "staff", 1
                sender = rng.choice(user_ids) if user_ids else None
                roll = rng.random()
                status = (
                    "sent" if channel == "web" else "delivered" if roll < 0.92 else "sent" if roll < 0.98 else "failed"
                )
                if status == "sent" and channel != "web" and moment > now - STATUS_POLL_GIVE_UP:
                    # Left at `sent` only past the status poller's window: a recent one would be
                    # polled, i.e. fetched from the provider by the worker during the bench.
                    status = "delivered"
                if status == "failed":
                    error_code, error_message = "30003", "Unreachable destination handset."
                else:
                    sent_at = at
            yield _row(
                message_id,
                tenant_id,
                conversation["id"],
                sender,
                sender_type,
                body,
                channel,
                "inbound" if inbound else "outbound",
                status,
                provider_id,
                duration,
                "[]",
                error_code,
                error_message,
                attempts,
                sent_at,
                read_at,
                at,
                at,
            )

    def contact_lines():
        for contact_id, first, last, phone in contacts:
            email = f"{first}.{last}{contact_id}@example.com".lower() if rng.random() < 0.6 else None
            at = _ts(now - 400 * DAY * rng.random())
            yield _row(contact_id, tenant_id, first, last, phone, email, at, at)

    def conversation_lines():
        for index, conversation in enumerate(conversations):
            contact = conversation["contact"]
            visitor_name = visitor_email = phone = contact_id = None
            if contact is None:
                first, last = rng.choice(FIRST_NAMES), rng.choices(SURNAMES, cum_weights=surname_cum)[0]
                visitor_name = f"{first} {last}"
                if rng.random() < 0.7:
                    visitor_email = f"{first}.{last}.{conversation['id']}@example.net".lower()
            else:
                contact_id, phone = contact[0], contact[3]
            # A digest of a token nobody holds, as the app stores for every conversation.
            token = hashlib.sha256(f"bench-{tenant_id}-{conversation['id']}-{seed}".encode()).hexdigest()
            started_at = _ts(threads[index][0][0])
            yield _row(
                conversation["id"],
                tenant_id,
                conversation["channel"],
                conversation["status"],
                phone,
                visitor_name,
                visitor_email,
                token,
                contact_id,
                conversation["assigned"],
                "{}",
                started_at,
                started_at,
                started_at,
            )

    dropped = []
    if rebuild_indexes:
        for table in ("contacts", "conversations", "messages"):
            for name, definition in _secondary_indexes(conn, table):
                conn.execute(f'DROP INDEX "{name}"')
                dropped.append(definition)
    # Foreign keys (and any trigger) are not checked row by row during the COPY: the rows are built
    # consistent above, and the invariants are checked after (tests/bench).
    conn.execute("SET session_replication_role = replica")
    _copy(conn, "contacts", CONTACT_COLUMNS, contact_lines())
    _copy(conn, "conversations", CONVERSATION_COLUMNS, conversation_lines())
    _copy(conn, "messages", MESSAGE_COLUMNS, message_lines())
    conn.execute("SET session_replication_role = DEFAULT")
    for definition in dropped:
        conn.execute(definition)
    fill_derived_columns(conn, tenant_id)

    result.conversations, result.contacts, result.messages = len(conversations), len(contacts), len(rows)
    result.inbound = inbound_total
    result.unread = sum(unread_tail)
    result.seconds = time.perf_counter() - started
    return result


def fill_derived_columns(conn: psycopg.Connection, tenant_id: int) -> None:
    """Each conversation's newest message (id and time), as the services keep them."""
    conn.execute(
        """
        UPDATE conversations c
           SET last_message_id = m.id, last_message_at = m.inserted_at, updated_at = m.inserted_at
          FROM (SELECT DISTINCT ON (conversation_id) conversation_id, id, inserted_at
                  FROM messages WHERE tenant_id = %(tenant)s
                 ORDER BY conversation_id, inserted_at DESC, id DESC) m
         WHERE c.id = m.conversation_id AND c.tenant_id = %(tenant)s
        """,
        {"tenant": tenant_id},
    )


def create_tenant_row(conn: psycopg.Connection, name: str, now: float) -> int:
    """A bare tenant (standalone, no provider): for the smoke test, which does not build the app."""
    at = _ts(now)
    widget_key = "wk_" + hashlib.sha256(f"{name}-{now}".encode()).hexdigest()[:32]
    return conn.execute(
        "INSERT INTO tenants (name, widget_key, record_calls, inserted_at, updated_at)"
        " VALUES (%s, %s, false, %s, %s) RETURNING id",
        (name, widget_key, at, at),
    ).fetchone()[0]
