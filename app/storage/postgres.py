"""The default store: files in PostgreSQL (stored_blobs), inside the caller's unit of work."""

from app.extensions import db
from app.models import StoredBlob
from app.storage import StoredFile


class PostgresFileStore:
    def put(self, key: str, data: bytes, content_type: str) -> None:
        db.session.add(StoredBlob(key=key, data=data, content_type=content_type))
        db.session.flush()

    def get(self, key: str) -> StoredFile | None:
        blob = db.session.get(StoredBlob, key)
        return StoredFile(bytes(blob.data), blob.content_type) if blob is not None else None

    def delete(self, key: str) -> None:
        blob = db.session.get(StoredBlob, key)
        if blob is not None:
            db.session.delete(blob)
            db.session.flush()
