import marshmallow as ma
from flask_smorest.fields import Upload as FileField

from app.schemas.common import UtcDateTime
from app.schemas.dumping import OutputSchema


class UploadFormSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    file = FileField(required=True, metadata={"description": "The photo or file (multipart/form-data)."})


class UploadSchema(OutputSchema):
    id = ma.fields.Integer(metadata={"description": "Send it as `upload_ids: [id]` with a message."})
    filename = ma.fields.String()
    content_type = ma.fields.String(metadata={"description": "Sniffed from the file (a resized image is JPEG)."})
    size = ma.fields.Integer()
    public_until = UtcDateTime(metadata={"description": "Send it before then; after, upload it again."})
    inserted_at = UtcDateTime()
