"""The storage port's contract, on both stores: PostgreSQL (the default) and S3 (moto's stand-in)."""

import boto3
import pytest
from moto import mock_aws

from app.storage import StoredFile, file_store
from app.storage.postgres import PostgresFileStore
from app.storage.s3 import S3FileStore


@pytest.fixture
def s3_store(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="conversations-test")
        yield S3FileStore("conversations-test", region="us-east-1")


@pytest.fixture(params=["postgres", "s3"])
def store(request, db):
    return PostgresFileStore() if request.param == "postgres" else request.getfixturevalue("s3_store")


def test_a_stored_file_comes_back_byte_for_byte_with_its_type(store):
    data = bytes(range(256)) * 100

    store.put("uploads/1/abc", data, "image/png")

    assert store.get("uploads/1/abc") == StoredFile(data, "image/png")


def test_an_unknown_key_is_none(store):
    assert store.get("uploads/1/nothing") is None


def test_a_deleted_file_is_gone_and_deleting_twice_is_harmless(store):
    store.put("uploads/1/gone", b"x", "text/vcard")

    store.delete("uploads/1/gone")
    store.delete("uploads/1/gone")

    assert store.get("uploads/1/gone") is None


def test_keys_do_not_mix(store):
    store.put("uploads/1/a", b"first", "image/jpeg")
    store.put("uploads/2/a", b"second", "image/gif")

    assert store.get("uploads/1/a").data == b"first" and store.get("uploads/2/a").data == b"second"


def test_the_configured_store_is_postgres_unless_a_bucket_is_set(app, db, monkeypatch):
    assert isinstance(file_store(), PostgresFileStore)
    monkeypatch.setitem(app.config, "STORAGE_S3_BUCKET", "conversations-test")
    monkeypatch.setitem(app.config, "STORAGE_S3_REGION", "us-east-1")
    assert isinstance(file_store(), S3FileStore)
