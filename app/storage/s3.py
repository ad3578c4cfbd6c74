"""An S3-compatible bucket through boto3 (one client per process and bucket, with timeouts)."""

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from app.storage import StoredFile


class S3FileStore:
    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None):
        self.bucket = bucket
        # Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID... or an instance role).
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3}),
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> StoredFile | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return StoredFile(answer["Body"].read(), answer.get("ContentType") or "application/octet-stream")

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)
