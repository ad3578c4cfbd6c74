"""Uploads: photos and files staff send from the app, and the public URLs providers fetch them from."""

from flask import Blueprint as FlaskBlueprint
from flask import Response, g

from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.schemas.common import envelope
from app.schemas.uploads import UploadFormSchema, UploadSchema
from app.services import uploads

blp = Blueprint("uploads", __name__, description="Files to send with a message (MMS)")
blp.before_request(require_bearer_token)

files = FlaskBlueprint("public_files", __name__, url_prefix="/files")  # for providers: the token is the key


@blp.post("/uploads")
@blp.arguments(UploadFormSchema, location="files")
@blp.response(201, envelope(UploadSchema))
def upload(fields):
    """Upload a photo or file (multipart field `file`): types and 5 MB as Twilio MMS accepts them; a
    larger image is resized. Send the returned id as `upload_ids` on the send endpoints."""
    stream = fields["file"]
    return {"data": uploads.store_upload(g.tenant, g.user, stream.read(), stream.filename)}


@files.get("/<token>/<filename>")
def public_file(token, filename):
    """An uploaded file, for the provider sending it (GET and HEAD, as Twilio checks both)."""
    upload, stored = uploads.open_public(token)
    headers = {
        "Content-Disposition": f'inline; filename="{upload.filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
    }
    return Response(stored.data, content_type=stored.content_type, headers=headers)
