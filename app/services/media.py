"""Media the app can open: a message's attachments and a call's recording, read from the provider
with the tenant's credentials (Twilio's can require them) and streamed to the app, which never
sees those credentials. A short-lived signed link lets a player stream without the bearer header.

A part is `recording` or an attachment's index ("0", "1"...). A link is an HMAC (SECRET_KEY) over
the tenant, the message, the part and the expiry: it opens that part of that message only.
"""

import hashlib
import hmac
import time
from dataclasses import replace

from flask import current_app

from app.errors import DomainError, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Message, Tenant
from app.providers.base import ByteRange, FetchesMedia, MediaStream, ProviderError, require
from app.services import uploads
from app.services.provider_registry import ProviderNotConfigured, provider_for
from app.services.queries import get_owned
from app.services.unit_of_work import commit_step, use_case
from app.storage import file_store

RECORDING = "recording"


class RangeNotSatisfiable(DomainError):
    status, code, message = 416, "range_not_satisfiable", "The range is outside the file."


class ProviderUnavailable(DomainError):
    status, code, message = 503, "provider_unavailable", "The provider did not answer; try again shortly."


@use_case
def open_media(tenant: Tenant, message_id: int, part: str, byte_range: ByteRange | None = None) -> MediaStream:
    """The file (or the range of it asked for) of one part of a message of this tenant."""
    message = get_owned(Message, tenant.id, message_id, what="Message")
    url = _url_of(message, part)
    if (stored := _stored_copy(message, part)) is not None:  # ours to serve: no provider needed
        return _honour_range(stored, byte_range)
    try:
        provider = require(provider_for(tenant), FetchesMedia, "serve media")
    except ProviderNotConfigured as exc:
        raise ValidationFailed(str(exc), code="channel_unavailable") from exc
    except ProviderError as exc:
        raise ValidationFailed(
            f"{exc.message} Open the attachment's own URL instead.", code="media_unavailable"
        ) from exc
    commit_step()  # no transaction held while the provider streams
    try:
        stream = provider.fetch_media(url, byte_range)
    except ProviderError as exc:
        if exc.code in ("not_found", "not_provider_media"):
            raise NotFound("The provider no longer has this file.", code="media_not_found") from exc
        if exc.code == "range_not_satisfiable":
            raise RangeNotSatisfiable() from exc
        raise ProviderUnavailable() from exc
    return _honour_range(stream, byte_range)


def _url_of(message: Message, part: str) -> str:
    url = message.recording_url if part == RECORDING else (_attachment(message, part) or {}).get("url")
    if not url:
        raise NotFound("This message has no such file.", code="media_not_found")
    return url


def _attachment(message: Message, part: str) -> dict | None:
    index = int(part) if part.isdigit() and len(part) < 4 else -1
    attachments = message.attachments or []
    return attachments[index] if 0 <= index < len(attachments) else None


def _stored_copy(message: Message, part: str) -> MediaStream | None:
    """Our own copy of the file (an upload we sent, or inbound media copied into storage), if any."""
    attachment = _attachment(message, part) if part != RECORDING else None
    key = (attachment or {}).get("stored_key")
    stored = file_store().get(key) if key else None
    if stored is None:
        stored = uploads.open_own_url(message.tenant_id, _url_of(message, part))
    if stored is None:
        return None
    return MediaStream(iter([stored.data]), stored.content_type, total_length=len(stored.data))


def _honour_range(stream: MediaStream, byte_range: ByteRange | None) -> MediaStream:
    """Serve only the range asked for, even when the provider sent the whole file."""
    if byte_range is None or stream.served is not None or stream.total_length is None:
        return stream
    total = stream.total_length
    if byte_range.start >= total:
        stream.close()
        raise RangeNotSatisfiable()
    end = min(byte_range.end if byte_range.end is not None else total - 1, total - 1)
    window = _window(stream.chunks, byte_range.start, end)
    return replace(stream, chunks=window, served=ByteRange(byte_range.start, end))


def _window(chunks, start: int, end: int):
    position = 0
    for chunk in chunks:
        low, high = max(start - position, 0), min(end + 1 - position, len(chunk))
        if low < high:
            yield chunk[low:high]
        position += len(chunk)
        if position > end:
            return


# --- signed links ----------------------------------------------------------------------------


def link_for(tenant: Tenant, message_id: int, part: str) -> tuple[str, int]:
    """(path with query, expiry as a Unix time) of a link to one part of a message of this tenant."""
    message = get_owned(Message, tenant.id, message_id, what="Message")
    _url_of(message, part)  # 404 now rather than a link to nothing
    expires = int(time.time()) + current_app.config["MEDIA_LINK_SECONDS"]
    signature = _sign(tenant.id, message.id, part, expires)
    return f"/media/{message.id}/{part}?expires={expires}&signature={signature}", expires


def open_linked_media(message_id: int, part: str, expires: int, signature: str, byte_range=None) -> MediaStream:
    """The file a signed link names, if the link is this message's and still valid."""
    message = db.session.get(Message, message_id)
    valid = (
        message is not None
        and expires >= time.time()
        and hmac.compare_digest(_sign(message.tenant_id, message.id, part, expires), signature)
    )
    if not valid:
        raise Forbidden("This media link is invalid or has expired.", code="bad_media_link")
    return open_media(db.session.get(Tenant, message.tenant_id), message.id, part, byte_range)


def _sign(tenant_id: int, message_id: int, part: str, expires: int) -> str:
    key = hashlib.sha256(b"media-link:" + current_app.config["SECRET_KEY"].encode()).digest()
    text = f"{tenant_id}:{message_id}:{part}:{expires}".encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()
