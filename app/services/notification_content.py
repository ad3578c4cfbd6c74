"""What a push says: the contact as the title, a line of the message, and the deep-link fields."""

import re

from app import push
from app.extensions import db
from app.models import Contact, Conversation, Message

PREVIEW_CHARS = 180


def title_for(conversation: Conversation) -> str:
    """The contact's name, else their number (or the web visitor's), as the app lists them."""
    contact = db.session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    if contact is not None:
        name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
        if name or contact.phone or contact.email:
            return name or contact.phone or contact.email
    return (
        conversation.visitor_name
        or conversation.visitor_phone
        or conversation.phone_number
        or conversation.visitor_email
        or "Website visitor"
    )


def preview(message: Message) -> str:
    """A line of the message: its text, or what it is ("Photo", "Voicemail 0:42", "Missed call")."""
    if message.channel == "voice":
        return _call_preview(message)
    text = " ".join((message.body or "").split())
    if text:
        return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1].rstrip() + "…"
    attachments = message.attachments or []
    if not attachments:
        return "Message"
    kinds = {(item.get("content_type") or "").split("/")[0] for item in attachments}
    noun = (
        {"image": "Photo", "video": "Video", "audio": "Audio"}.get(kinds.pop(), "Attachment")
        if len(kinds) == 1
        else "Attachment"
    )
    return noun if len(attachments) == 1 else f"{len(attachments)} attachments"


def _call_preview(message: Message) -> str:
    # twilio_events writes these bodies: "Incoming call", "Missed call (...)", "Call, 42 s", "Voicemail, 42 s".
    body = message.body or ""
    seconds = re.search(r"(\d+) s\b", body)
    if message.recording_url or body.startswith("Voicemail"):
        return f"Voicemail {_clock(int(seconds.group(1)))}" if seconds else "Voicemail"
    if body.startswith("Missed call"):
        return "Missed call"
    if body.startswith("Call") and seconds:
        return f"Call {_clock(int(seconds.group(1)))}"
    return "Incoming call"


def _clock(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def inbound_notification(conversation: Conversation, message: Message, badge: int) -> push.Notification:
    return push.Notification(
        kind="inbound",
        badge=badge,
        title=title_for(conversation),
        body=preview(message),
        conversation_id=conversation.id,
        channel=conversation.channel,
        message_id=message.id,
    )
