"""Unread counts kept by the database itself (installed by migration 0009a).

Two levels, so no badge or inbox row ever counts messages:
- `conversations.unread_count`: inbound messages with no read_at. A row trigger on messages keeps
  it, whatever writes them (a webhook, the GHL sync, a bulk "mark read", a test factory).
- `unread_tallies`: per tenant and channel, the unread messages and the conversations holding any,
  outside archived conversations. A trigger on conversations keeps it from unread_count and status.

On PostgreSQL the tally trigger is deferred to commit and first takes a per-tenant advisory lock:
many transactions update one tenant's tally rows, and taking them only at commit, one transaction
at a time per tenant, means no row lock is held while other work goes on and no two commits can
lock two channels' rows in opposite orders (no deadlock).
"""

import sqlalchemy as sa

_COUNT_MESSAGES = """
CREATE FUNCTION messages_count_unread() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.direction = 'inbound' AND OLD.read_at IS NULL THEN
        UPDATE conversations SET unread_count = unread_count - 1 WHERE id = OLD.conversation_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.direction = 'inbound' AND NEW.read_at IS NULL THEN
        UPDATE conversations SET unread_count = unread_count + 1 WHERE id = NEW.conversation_id;
    END IF;
    RETURN NULL;
END $$
"""

_TALLY_CONVERSATIONS = """
CREATE FUNCTION conversations_tally_unread() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('unread_tallies:' || tenant, 0));
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status <> 'archived' AND OLD.unread_count <> 0 THEN
        UPDATE unread_tallies
           SET messages = messages - OLD.unread_count, conversations = conversations - 1
         WHERE tenant_id = OLD.tenant_id AND channel = OLD.channel;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status <> 'archived' AND NEW.unread_count <> 0 THEN
        INSERT INTO unread_tallies AS tally (tenant_id, channel, messages, conversations)
        VALUES (NEW.tenant_id, NEW.channel, NEW.unread_count, 1)
        ON CONFLICT (tenant_id, channel) DO UPDATE
           SET messages = tally.messages + EXCLUDED.messages, conversations = tally.conversations + 1;
    END IF;
    RETURN NULL;
END $$
"""

POSTGRESQL_TRIGGERS = (
    _COUNT_MESSAGES,
    "CREATE TRIGGER messages_count_unread AFTER INSERT OR DELETE OR UPDATE OF direction, read_at, conversation_id"
    " ON messages FOR EACH ROW EXECUTE FUNCTION messages_count_unread()",
    _TALLY_CONVERSATIONS,
    "CREATE CONSTRAINT TRIGGER conversations_tally_unread_insert AFTER INSERT ON conversations"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.unread_count <> 0)"
    " EXECUTE FUNCTION conversations_tally_unread()",
    "CREATE CONSTRAINT TRIGGER conversations_tally_unread_update AFTER UPDATE ON conversations"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
    " WHEN ((OLD.unread_count, OLD.status, OLD.channel) IS DISTINCT FROM (NEW.unread_count, NEW.status, NEW.channel))"
    " EXECUTE FUNCTION conversations_tally_unread()",
    "CREATE CONSTRAINT TRIGGER conversations_tally_unread_delete AFTER DELETE ON conversations"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.unread_count <> 0)"
    " EXECUTE FUNCTION conversations_tally_unread()",
)

# SQLite (development): the same rules as plain triggers; one writer at a time, so nothing to defer.
SQLITE_TRIGGERS = (
    """CREATE TRIGGER messages_unread_insert AFTER INSERT ON messages
    WHEN NEW.direction = 'inbound' AND NEW.read_at IS NULL
    BEGIN UPDATE conversations SET unread_count = unread_count + 1 WHERE id = NEW.conversation_id; END""",
    """CREATE TRIGGER messages_unread_delete AFTER DELETE ON messages
    WHEN OLD.direction = 'inbound' AND OLD.read_at IS NULL
    BEGIN UPDATE conversations SET unread_count = unread_count - 1 WHERE id = OLD.conversation_id; END""",
    """CREATE TRIGGER messages_unread_update AFTER UPDATE OF direction, read_at, conversation_id ON messages
    BEGIN
        UPDATE conversations SET unread_count = unread_count - 1
         WHERE id = OLD.conversation_id AND OLD.direction = 'inbound' AND OLD.read_at IS NULL;
        UPDATE conversations SET unread_count = unread_count + 1
         WHERE id = NEW.conversation_id AND NEW.direction = 'inbound' AND NEW.read_at IS NULL;
    END""",
    """CREATE TRIGGER conversations_tally_unread_update AFTER UPDATE OF unread_count, status, channel ON conversations
    BEGIN
        UPDATE unread_tallies SET messages = messages - OLD.unread_count, conversations = conversations - 1
         WHERE tenant_id = OLD.tenant_id AND channel = OLD.channel
           AND OLD.status <> 'archived' AND OLD.unread_count <> 0;
        INSERT OR IGNORE INTO unread_tallies (tenant_id, channel, messages, conversations)
        SELECT NEW.tenant_id, NEW.channel, 0, 0 WHERE NEW.status <> 'archived' AND NEW.unread_count <> 0;
        UPDATE unread_tallies SET messages = messages + NEW.unread_count, conversations = conversations + 1
         WHERE tenant_id = NEW.tenant_id AND channel = NEW.channel
           AND NEW.status <> 'archived' AND NEW.unread_count <> 0;
    END""",
    """CREATE TRIGGER conversations_tally_unread_delete AFTER DELETE ON conversations
    WHEN OLD.status <> 'archived' AND OLD.unread_count <> 0
    BEGIN
        UPDATE unread_tallies SET messages = messages - OLD.unread_count, conversations = conversations - 1
         WHERE tenant_id = OLD.tenant_id AND channel = OLD.channel;
    END""",
)

DROP_TRIGGERS = {
    "postgresql": (
        "DROP TRIGGER messages_count_unread ON messages",
        "DROP TRIGGER conversations_tally_unread_insert ON conversations",
        "DROP TRIGGER conversations_tally_unread_update ON conversations",
        "DROP TRIGGER conversations_tally_unread_delete ON conversations",
        "DROP FUNCTION messages_count_unread()",
        "DROP FUNCTION conversations_tally_unread()",
    ),
    "sqlite": tuple(
        f"DROP TRIGGER {name}"
        for name in (
            "messages_unread_insert",
            "messages_unread_delete",
            "messages_unread_update",
            "conversations_tally_unread_update",
            "conversations_tally_unread_delete",
        )
    ),
}


def recount_unread(connection, tenant_id: int | None = None) -> None:
    """Count every conversation's unread messages and the tallies again from the messages themselves.

    For a database filled behind the triggers' back (a bulk load with triggers disabled) or after
    a repair; the counts are otherwise always right. Scans the tenant's messages: run it off-hours.
    """
    if connection.dialect.name == "postgresql":
        # The tally triggers then run as each row changes, before the tallies are rebuilt below.
        connection.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
    for statement in _RECOUNT:
        connection.execute(sa.text(statement), {"tenant": tenant_id})


_RECOUNT = (
    """UPDATE conversations SET unread_count = unread.n
         FROM (SELECT conversations.id, (SELECT count(*) FROM messages
                 WHERE messages.tenant_id = conversations.tenant_id AND messages.conversation_id = conversations.id
                   AND direction = 'inbound' AND read_at IS NULL) AS n
                 FROM conversations
                WHERE CAST(:tenant AS BIGINT) IS NULL OR tenant_id = CAST(:tenant AS BIGINT)) AS unread
        WHERE conversations.id = unread.id AND conversations.unread_count <> unread.n""",
    "DELETE FROM unread_tallies WHERE CAST(:tenant AS BIGINT) IS NULL OR tenant_id = CAST(:tenant AS BIGINT)",
    """INSERT INTO unread_tallies (tenant_id, channel, messages, conversations)
       SELECT tenant_id, channel, sum(unread_count), count(*) FROM conversations
        WHERE unread_count > 0 AND status <> 'archived'
          AND (CAST(:tenant AS BIGINT) IS NULL OR tenant_id = CAST(:tenant AS BIGINT))
        GROUP BY tenant_id, channel""",
)
