"""Assertions the API tests share."""

from app.models import Conversation, Message
from tests.rows import count


def error_of(response) -> dict:
    """The `error` object of an error envelope, after checking the envelope is all there is.

    `fields` is always there; when it is empty it is left out of the answer, so a test can
    compare `{"code", "message"}` alone.
    """
    assert response.is_json, response.get_data(as_text=True)
    assert set(response.json) == {"error"}
    error = dict(response.json["error"])
    assert {"code", "message", "fields"} <= set(error), error
    assert isinstance(error["fields"], dict)
    if not error["fields"]:
        del error["fields"]
    return error


def stored_messages(tenant) -> int:
    return count(Message, Message.tenant_id == tenant.id)


def stored_conversations(tenant) -> int:
    return count(Conversation, Conversation.tenant_id == tenant.id)
