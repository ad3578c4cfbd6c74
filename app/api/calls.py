"""Click-to-call: the call is stored at once as a `pending` outbound voice message; a worker places it."""

from flask import g

from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.schemas.calls import CallSchema
from app.schemas.common import envelope
from app.schemas.conversations import SendResultSchema
from app.services import calls

blp = Blueprint("calls", __name__, description="Calling customers from the app (Twilio)")
blp.before_request(require_bearer_token)


def _placed(sent):
    message = sent.message
    return {"data": {"conversation": sent.conversation, "message": message, "status": message.delivery_status}}


@blp.post("/conversations/<id:conversation_id>/call")
@blp.response(201, envelope(SendResultSchema))
def call_conversation(conversation_id):
    """Call this conversation's customer: your phone rings first, then theirs, showing the business number.
    422 when the account cannot place calls (no provider, GHL), you have no phone set, or the contact
    asked not to be called."""
    return _placed(calls.call_conversation(g.tenant, conversation_id, g.user))


@blp.post("/calls")
@blp.arguments(CallSchema)
@blp.response(201, envelope(SendResultSchema))
def call(fields):
    """Call a contact (`contact_id`) or a phone number (`phone`), as `/conversations/:id/call` does."""
    return _placed(calls.call_contact(g.tenant, g.user, contact_id=fields.get("contact_id"), phone=fields.get("phone")))
