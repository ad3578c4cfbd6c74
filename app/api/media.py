"""Files of messages (MMS photos, call recordings), streamed with Range support, and signed links
for players that cannot send the bearer header. Provider credentials never reach the app."""

import re
from datetime import UTC, datetime

import marshmallow as ma
from flask import Blueprint as FlaskBlueprint
from flask import Response, current_app, g, request

from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.errors import ValidationFailed
from app.providers.base import ByteRange, MediaStream
from app.schemas.common import UtcDateTime, envelope
from app.services import media

blp = Blueprint("media", __name__, description="Attachments and recordings, as files the app can play")
blp.before_request(require_bearer_token)

links = FlaskBlueprint("media_links", __name__, url_prefix="/media")  # no bearer: the signature is the key

_RANGE = re.compile(r"bytes=(\d{1,15})-(\d{0,15})")


class LinkSchema(ma.Schema):
    url = ma.fields.String(metadata={"description": "Absolute URL; works without the bearer header until expires_at."})
    expires_at = UtcDateTime()


@blp.get("/messages/<id:message_id>/media/<int:index>")
@blp.doc(responses={"200": {"description": "The file"}, "206": {"description": "The range asked for"}})
def attachment(message_id, index):
    """The message's attachment number `index` (from 0). Send `Range: bytes=a-b` for part of it."""
    return _stream(media.open_media(g.tenant, message_id, str(index), _byte_range()))


@blp.get("/messages/<id:message_id>/recording")
@blp.doc(responses={"200": {"description": "The recording"}, "206": {"description": "The range asked for"}})
def recording(message_id):
    """The call's recording or voicemail (audio). Send `Range: bytes=a-b` to scrub."""
    return _stream(media.open_media(g.tenant, message_id, media.RECORDING, _byte_range()))


@blp.get("/messages/<id:message_id>/media/<int:index>/link")
@blp.response(200, envelope(LinkSchema))
def attachment_link(message_id, index):
    """A short-lived link to the attachment, for a player that cannot send the bearer header."""
    return {"data": _link(message_id, str(index))}


@blp.get("/messages/<id:message_id>/recording/link")
@blp.response(200, envelope(LinkSchema))
def recording_link(message_id):
    """A short-lived link to the recording, for a player that cannot send the bearer header."""
    return {"data": _link(message_id, media.RECORDING)}


@links.get("/<int:message_id>/<any(recording, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'):part>")
def linked(message_id, part):
    """A signed link's file (the link names the message, the part and its expiry)."""
    try:
        expires = int(request.args.get("expires", ""))
    except ValueError:
        expires = 0
    signature = request.args.get("signature", "")[:128]
    return _stream(media.open_linked_media(message_id, part, expires, signature, _byte_range()))


def _link(message_id: int, part: str) -> dict:
    path, expires = media.link_for(g.tenant, message_id, part)
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return {"url": base + path, "expires_at": datetime.fromtimestamp(expires, UTC)}


def _byte_range() -> ByteRange | None:
    """A single `bytes=a-b` or `bytes=a-` range; anything else is ignored (the whole file is served, RFC 9110)."""
    match = _RANGE.fullmatch(request.headers.get("Range", "").strip())
    if not match:
        return None
    start, end = int(match[1]), int(match[2]) if match[2] else None
    if end is not None and end < start:
        raise ValidationFailed("The range ends before it starts.", code="bad_range")
    return ByteRange(start, end)


def _stream(stream: MediaStream) -> Response:
    headers = {"Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    status = 200
    if stream.served is not None:
        status = 206
        total = "*" if stream.total_length is None else stream.total_length
        headers["Content-Range"] = f"bytes {stream.served.start}-{stream.served.end}/{total}"
        headers["Content-Length"] = str(stream.served.end - stream.served.start + 1)
    elif stream.total_length is not None:
        headers["Content-Length"] = str(stream.total_length)
    response = Response(stream.chunks, status=status, headers=headers, content_type=stream.content_type)
    response.call_on_close(stream.close)
    return response
