"""Files staff upload to send (photos, PDFs...): checked, resized when too large, stored behind the
storage port, and handed to providers as a public, unguessable URL of ours that expires.

Limits are Twilio MMS's (https://www.twilio.com/docs/messaging/guides/accepted-mime-types): 5 MB
for a message's media together, at most 10 files, and a Content-Type that matches the file
(Twilio checks it with GET and HEAD). The type is sniffed from the bytes, never taken from the
client's name or header, so a renamed executable is refused. An image over the limit is scaled
down and re-encoded as JPEG; any other file over it is refused.
"""

import io
import logging
import re
import secrets
import warnings
from datetime import timedelta

import filetype
import sqlalchemy as sa
from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import DomainError, NotFound, ValidationFailed
from app.extensions import db
from app.models import Tenant, Upload, User
from app.models.base import aware, utcnow
from app.services.queries import get_owned
from app.services.unit_of_work import use_case
from app.storage import StoredFile, file_store

log = logging.getLogger(__name__)

MMS_MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 10
# The types Twilio accepts for MMS (the list above), by the extension we give them.
ACCEPTED = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/ogg": "ogg",
    "audio/amr": "amr",
    "video/mp4": "mp4",
    "video/mpeg": "mpeg",
    "video/quicktime": "mov",
    "video/3gpp": "3gp",
    "application/pdf": "pdf",
    "text/vcard": "vcf",
    "text/calendar": "ics",
}
_RESIZABLE = {"image/jpeg", "image/png", "image/bmp", "image/tiff"}
_TEXT_KINDS = {b"BEGIN:VCARD": "text/vcard", b"BEGIN:VCALENDAR": "text/calendar"}
MAX_PIXELS = 50_000_000  # a larger image is refused before it is decoded (decompression bombs)


class UnsupportedFileType(DomainError):
    status, code = 415, "unsupported_file_type"
    message = "This kind of file cannot be sent; send a photo, a video, audio, a PDF, a vCard or a calendar file."


class FileTooLarge(DomainError):
    status, code = 413, "file_too_large"
    message = f"The file is larger than the {MMS_MAX_BYTES // (1024 * 1024)} MB a text message can carry."


@use_case
def store_upload(tenant: Tenant, user: User, data: bytes, filename: str | None) -> Upload:
    """Check, shrink if needed, and store one uploaded file; returns its row (its id is sent with a message)."""
    if not data:
        raise ValidationFailed("The file is empty.", code="empty_file", fields={"file": ["Empty."]})
    content_type = sniff(data)
    if len(data) > MMS_MAX_BYTES:
        if content_type not in _RESIZABLE:
            raise FileTooLarge()
        data, content_type = shrink_image(data)
    elif content_type.startswith("image/"):
        _check_image(data)
    token = secrets.token_urlsafe(32)
    upload = Upload(
        tenant_id=tenant.id,
        token=token,
        filename=safe_filename(filename, ACCEPTED[content_type]),
        content_type=content_type,
        size=len(data),
        storage_key=f"uploads/{tenant.id}/{token}",
        uploaded_by=user.id,
        public_until=utcnow() + timedelta(seconds=current_app.config["UPLOAD_PUBLIC_SECONDS"]),
    )
    file_store().put(upload.storage_key, data, content_type)
    db.session.add(upload)
    db.session.flush()
    log.info("upload.stored", extra={"tenant_id": tenant.id, "upload_id": upload.id, "size": upload.size})
    return upload


def sniff(data: bytes) -> str:
    """The file's type from its first bytes; UnsupportedFileType unless Twilio accepts it."""
    kind = filetype.guess(data[:8192])
    mime = kind.mime if kind is not None else _text_kind(data)
    mime = {"audio/x-m4a": "audio/mp4", "video/3gpp2": "video/3gpp"}.get(mime, mime)
    if mime not in ACCEPTED:
        raise UnsupportedFileType()
    return mime


def _text_kind(data: bytes) -> str | None:
    head = data[:64].lstrip(b"\xef\xbb\xbf").lstrip()
    for start, mime in _TEXT_KINDS.items():
        if head.upper().startswith(start):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return None
            return mime if b"\x00" not in data else None
    return None


def _open_image(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ValidationFailed("The image has too many pixels.", code="image_too_large")
            return image
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError, OSError) as exc:
        raise ValidationFailed("The image cannot be read.", code="corrupt_image") from exc


def _check_image(data: bytes) -> None:
    image = _open_image(data)
    try:
        image.verify()
    except Exception as exc:  # Pillow raises many types for a damaged file
        raise ValidationFailed("The image cannot be read.", code="corrupt_image") from exc


def shrink_image(data: bytes) -> tuple[bytes, str]:
    """The image scaled down and re-encoded as JPEG until it fits the MMS limit."""
    image = _open_image(data)
    try:
        image = ImageOps.exif_transpose(image)
        if image.mode not in ("RGB", "L"):
            background = Image.new("RGB", image.size, "white")  # JPEG has no transparency
            converted = image.convert("RGBA")
            background.paste(converted, mask=converted.getchannel("A"))
            image = background
        longest = max(image.size)
        for side in (2048, 1600, 1280, 1024, 800, 640):
            if side < longest:
                candidate = image.copy()
                candidate.thumbnail((side, side))
            else:
                candidate = image
            buffer = io.BytesIO()
            candidate.save(buffer, format="JPEG", quality=82, optimize=True)
            if buffer.tell() <= MMS_MAX_BYTES:
                return buffer.getvalue(), "image/jpeg"
    except (OSError, ValueError) as exc:
        raise ValidationFailed("The image cannot be read.", code="corrupt_image") from exc
    raise FileTooLarge()


def safe_filename(name: str | None, extension: str) -> str:
    """A short name Twilio's recipients see (Twilio: no spaces, at most ~20 characters, no specials)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", (name or "").rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip("-")
    return f"{stem[:15] or 'file'}.{extension}"


# --- sending and serving ---------------------------------------------------------------------


def public_urls(tenant: Tenant, upload_ids: list[int]) -> tuple[str, ...]:
    """The public URLs to hand a provider for these uploads of the tenant (404 for another's)."""
    if not upload_ids:
        return ()
    uploads = [get_owned(Upload, tenant.id, upload_id, what="Upload") for upload_id in upload_ids]
    now = utcnow()
    if any(aware(upload.public_until) <= now for upload in uploads):
        raise ValidationFailed("An upload has expired; upload the file again.", code="upload_expired")
    if sum(upload.size for upload in uploads) > MMS_MAX_BYTES:
        raise FileTooLarge("Together the files are larger than the 5 MB a text message can carry.")
    return tuple(public_url(upload) for upload in uploads)


def mark_attached(tenant: Tenant, upload_ids: tuple[int, ...]) -> None:
    """A message being stored carries these uploads: they are kept with it from now on."""
    db.session.execute(
        sa.update(Upload)
        .where(Upload.tenant_id == tenant.id, Upload.id.in_(upload_ids), Upload.attached_at.is_(None))
        .values(attached_at=utcnow())
    )


# A send that found an upload still public commits within this; after it, nothing can attach one.
PURGE_AFTER_EXPIRY = timedelta(days=1)


def purge_unattached(limit: int = 500) -> int:
    """Delete uploads no message carries, a day after their URL expired (a photo uploaded, never sent):
    their files first, so a failure leaves a row to try again, never a file nobody can find."""
    expired = db.session.execute(
        sa.select(Upload.id, Upload.tenant_id, Upload.storage_key)
        .where(Upload.attached_at.is_(None), Upload.public_until < utcnow() - PURGE_AFTER_EXPIRY)
        .order_by(Upload.public_until)
        .limit(limit)
    ).all()
    db.session.rollback()  # no transaction held open across the store's network calls (S3)
    if not expired:
        return 0
    for upload in expired:
        file_store().delete(upload.storage_key)
    _forget([upload.id for upload in expired])
    for upload in expired:
        log.info("upload.purged", extra={"tenant_id": upload.tenant_id, "upload_id": upload.id})
    return len(expired)


@use_case
def _forget(upload_ids: list[int]) -> None:
    # With files in PostgreSQL (the default store) their deletes commit here too, with the rows.
    db.session.execute(sa.delete(Upload).where(Upload.id.in_(upload_ids), Upload.attached_at.is_(None)))


def public_url(upload: Upload) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/files/{upload.token}/{upload.filename}"


def open_public(token: str) -> tuple[Upload, StoredFile]:
    """The upload a public URL names, while it is public (404 otherwise, whatever the reason)."""
    upload = db.session.scalar(sa.select(Upload).where(Upload.token == token)) if len(token) <= 64 else None
    if upload is None or aware(upload.public_until) <= utcnow():
        raise NotFound("No such file.", code="file_not_found")
    stored = file_store().get(upload.storage_key)
    if stored is None:
        raise NotFound("No such file.", code="file_not_found")
    return upload, stored


def open_own_url(tenant_id: int, url: str) -> StoredFile | None:
    """The stored file when `url` is one of this tenant's upload URLs (a message it sent); else None."""
    prefix = f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/files/"
    if not url.startswith(prefix):
        return None
    token = url[len(prefix) :].split("/", 1)[0]
    upload = db.session.scalar(sa.select(Upload).where(Upload.token == token, Upload.tenant_id == tenant_id))
    return file_store().get(upload.storage_key) if upload is not None else None
