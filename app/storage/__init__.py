"""Where uploaded files live: a small port with two stores.

PostgreSQL (a bytea table) by default, so a deployment needs nothing more; an S3-compatible bucket
when `STORAGE_S3_BUCKET` is set (AWS, MinIO, R2... through boto3, `STORAGE_S3_ENDPOINT_URL` for
the non-AWS ones). Both keep the same contract (tests/storage/test_contract.py).
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from flask import current_app


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    content_type: str


class FileStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` (a key is written once)."""

    def get(self, key: str) -> StoredFile | None:
        """The file, or None when nothing is stored under `key`."""

    def delete(self, key: str) -> None:
        """Forget `key` (nothing happens when it is unknown)."""


def file_store() -> FileStore:
    """The configured store."""
    config = current_app.config
    if config.get("STORAGE_S3_BUCKET"):
        return _s3(config["STORAGE_S3_BUCKET"], config.get("STORAGE_S3_ENDPOINT_URL"), config.get("STORAGE_S3_REGION"))
    from app.storage.postgres import PostgresFileStore

    return PostgresFileStore()


@lru_cache(maxsize=8)
def _s3(bucket: str, endpoint_url: str | None, region: str | None) -> FileStore:
    from app.storage.s3 import S3FileStore

    return S3FileStore(bucket, endpoint_url=endpoint_url, region=region)
