"""A conversation's latest activity kept by the database itself (installed by migration 0013a).

Each message inserted into a conversation becomes its `last_message` (id and time, and the
conversation's `updated_at` moves on) unless it is older than the one there (history backfilled
from GHL): whatever writes messages, in the same statement, with no UPDATE of its own.
`app.services.conversations.append_message` mirrors the rule on the objects it holds.
"""

_UPDATE = """
    UPDATE conversations
       SET last_message_id = NEW.id, last_message_at = NEW.inserted_at,
           updated_at = {later}(updated_at, NEW.inserted_at)
     WHERE id = NEW.conversation_id
       AND (last_message_id IS NULL OR last_message_at IS NULL OR NEW.inserted_at >= last_message_at);
"""

POSTGRESQL_TRIGGER = (
    "CREATE FUNCTION messages_set_last_message() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN"
    + _UPDATE.format(later="GREATEST")
    + "    RETURN NULL;\nEND $$",
    "CREATE TRIGGER messages_set_last_message AFTER INSERT ON messages"
    " FOR EACH ROW EXECUTE FUNCTION messages_set_last_message()",
)

SQLITE_TRIGGER = (
    "CREATE TRIGGER messages_set_last_message AFTER INSERT ON messages\nBEGIN" + _UPDATE.format(later="max") + "END",
)

DROP_TRIGGER = {
    "postgresql": (
        "DROP TRIGGER messages_set_last_message ON messages",
        "DROP FUNCTION messages_set_last_message()",
    ),
    "sqlite": ("DROP TRIGGER messages_set_last_message",),
}
