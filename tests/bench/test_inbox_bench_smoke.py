"""bench/inbox.py's seeder at a tiny size: the inbox it writes keeps what the app relies on.

The seed runs in one transaction on the test database, rolled back at the end; the report is
rendered from figures shaped as the bench's own.
"""

import sys
import time
from pathlib import Path

import psycopg
import pytest

from app.phones import normalize_phone
from tests import services

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import inbox_report  # noqa: E402
import inbox_seed  # noqa: E402

SIZE = inbox_seed.SeedSize(conversations=600, contacts=300, messages=6000)


@pytest.fixture
def seeded(app):
    url = services.test_database_url().replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        now = time.time()
        tenant_id = inbox_seed.create_tenant_row(conn, "Bench smoke", now)
        user_ids = [
            conn.execute(
                "INSERT INTO users (tenant_id, email, name, role, inserted_at, updated_at)"
                " VALUES (%s, %s, 'Staff', 'staff', now(), now()) RETURNING id",
                (tenant_id, f"staff{n}@smoke.test"),
            ).fetchone()[0]
            for n in range(3)
        ]
        result = inbox_seed.seed_tenant(
            conn, tenant_id=tenant_id, size=SIZE, user_ids=user_ids, now=now, rebuild_indexes=False
        )
        try:
            yield conn, tenant_id, result
        finally:
            conn.rollback()


def one(conn, sql: str, tenant_id: int):
    return conn.execute(sql, {"t": tenant_id}).fetchone()[0]


def test_the_seeded_inbox_keeps_the_apps_invariants(seeded):
    conn, t, result = seeded
    assert one(conn, "SELECT count(*) FROM contacts WHERE tenant_id = %(t)s", t) == SIZE.contacts
    assert one(conn, "SELECT count(*) FROM conversations WHERE tenant_id = %(t)s", t) == SIZE.conversations
    assert one(conn, "SELECT count(*) FROM messages WHERE tenant_id = %(t)s", t) == SIZE.messages == result.messages

    # last_message_id / last_message_at name each conversation's newest message.
    wrong_last = """
        SELECT count(*) FROM conversations c
          LEFT JOIN LATERAL (SELECT m.id, m.inserted_at FROM messages m WHERE m.conversation_id = c.id
                              ORDER BY m.inserted_at DESC, m.id DESC LIMIT 1) newest ON true
         WHERE c.tenant_id = %(t)s
           AND (c.last_message_id IS DISTINCT FROM newest.id OR c.last_message_at IS DISTINCT FROM newest.inserted_at)
    """
    assert one(conn, wrong_last, t) == 0
    # Rows the COPY wrote without foreign-key checks point at rows of the same tenant.
    orphans = """
        SELECT (SELECT count(*) FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id
                 WHERE m.tenant_id = %(t)s AND c.tenant_id IS DISTINCT FROM m.tenant_id)
             + (SELECT count(*) FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id
                 WHERE c.tenant_id = %(t)s AND c.contact_id IS NOT NULL AND k.tenant_id IS DISTINCT FROM c.tenant_id)
    """
    assert one(conn, orphans, t) == 0
    # Message ids grow with time, as in production.
    out_of_order = """
        SELECT count(*) FROM (SELECT inserted_at, lag(inserted_at) OVER (ORDER BY id) AS before
                                FROM messages WHERE tenant_id = %(t)s) x WHERE inserted_at < before
    """
    assert one(conn, out_of_order, t) == 0
    tokens = conn.execute("SELECT visitor_token FROM conversations WHERE tenant_id = %s", (t,)).fetchall()
    assert len({token for (token,) in tokens}) == len(tokens)
    assert all(len(token) == 64 and int(token, 16) >= 0 for (token,) in tokens)
    phones = [phone for (phone,) in conn.execute("SELECT phone FROM contacts WHERE tenant_id = %s", (t,))]
    assert len(set(phones)) == len(phones)
    assert all(normalize_phone(phone) == phone for phone in phones[:50])


def test_the_seeded_inbox_looks_like_a_real_one(seeded):
    conn, t, result = seeded
    inbound = one(conn, "SELECT count(*) FROM messages WHERE tenant_id = %(t)s AND direction = 'inbound'", t)
    assert 0.4 < inbound / SIZE.messages < 0.6
    unread = one(
        conn,
        "SELECT count(*) FROM messages WHERE tenant_id = %(t)s AND direction = 'inbound' AND read_at IS NULL",
        t,
    )
    assert unread == result.unread
    assert 0.04 < unread / inbound < 0.06
    # Unread sits on recently active conversations, never archived ones.
    recent_rank = """
        SELECT avg(rank) FROM (
          SELECT c.id, rank() OVER (ORDER BY c.last_message_at DESC) AS rank,
                 EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
                          AND m.direction = 'inbound' AND m.read_at IS NULL) AS unread
            FROM conversations c WHERE c.tenant_id = %(t)s) x WHERE unread
    """
    assert one(conn, recent_rank, t) < SIZE.conversations / 3  # spread evenly, it would be 1/2
    archived_unread = """
        SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.tenant_id = %(t)s AND c.status = 'archived' AND m.direction = 'inbound' AND m.read_at IS NULL
    """
    assert one(conn, archived_unread, t) == 0
    # Nothing for the status poller to fetch from a provider while the bench runs.
    pollable = """
        SELECT count(*) FROM messages WHERE tenant_id = %(t)s AND direction = 'outbound'
           AND delivery_status = 'sent' AND channel <> 'web' AND sent_at > now() - interval '3 days'
    """
    assert one(conn, pollable, t) == 0
    statuses = dict(conn.execute("SELECT status, count(*) FROM conversations WHERE tenant_id = %s GROUP BY 1", (t,)))
    assert statuses["closed"] > statuses["open"] > statuses.get("archived", 0)
    channels = dict(conn.execute("SELECT channel, count(*) FROM conversations WHERE tenant_id = %s GROUP BY 1", (t,)))
    assert max(channels, key=channels.get) == "sms" and {"web", "whatsapp", "voice"} <= set(channels)
    surname = one(
        conn, f"SELECT count(*) FROM contacts WHERE tenant_id = %(t)s AND last_name = '{inbox_seed.SEARCH_SURNAME}'", t
    )
    assert 0.005 < surname / SIZE.contacts < 0.05
    # The thread the bench reads has the same length at every size.
    measured = """
        SELECT count(*) FROM (SELECT conversation_id FROM messages WHERE tenant_id = %(t)s
                               GROUP BY 1 HAVING count(*) = %(n)s) x
    """
    assert conn.execute(measured, {"t": t, "n": inbox_seed.MEASURED_THREAD}).fetchone()[0] >= 1


def test_the_report_shows_each_endpoint_with_its_growth_and_the_stacks_floor():
    # growth twice: across the sizes' runs, and against the small tenant in turn in the largest run
    result = inbox_report.EndpointResult("unread", latency={"10k": (5.0, 9.0), "1m": (10.0, 20.0)}, statements=2)
    cursor = inbox_report.EndpointResult("list `before`", latency={"1m": (4.0, 8.0)})
    cursor.skipped["no cursor"] = ["10k"]
    result.raw_p50 = 1.5
    result.floor = (3.0, 4.5)
    result.beside = (4.0, 6.0)
    result.plans = [("SELECT 1", "Result  (cost=0.00..0.01 rows=1 width=4)")]
    markdown = inbox_report.render(
        command="python bench/inbox.py --quick",
        labels=["10k", "1m"],
        results=[result, cursor],
        seeding={"10k": 3.0, "1m": 180.0},
        throughput={},
        pg_version="PostgreSQL 15",
        notes=[],
    )
    unread = "| unread | 5.0/9.0 ms | 10.0/20.0 ms | 2 | 1.5 ms | 3.0/4.5 ms | 2.0x | 4.0 -> 6.0 ms (1.5x) |"
    assert unread + "\n" in markdown
    assert "| list `before` (no cursor at 10k) | — | 4.0/8.0 ms | — | — | — | — | — |\n" in markdown
    assert "Result  (cost=0.00..0.01 rows=1 width=4)" in markdown
    assert "python bench/inbox.py --quick" in markdown
