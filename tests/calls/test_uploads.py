"""Uploads: sniffed, limited and resized as Twilio MMS needs, stored, and sent as a public URL of ours."""

import io
import random
from datetime import timedelta

import pytest
from PIL import Image

from app.extensions import db
from app.models import Message, StoredBlob, Upload
from app.models.base import utcnow
from app.services import uploads
from app.services.uploads import MMS_MAX_BYTES
from tests import factories
from tests.api.helpers import error_of
from tests.rows import count


def jpeg(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def noisy_png(side=1400) -> bytes:
    """A PNG over 5 MB: random pixels do not compress."""
    pixels = random.Random(7).randbytes(side * side * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buffer, format="PNG", compress_level=1)
    assert buffer.tell() > MMS_MAX_BYTES
    return buffer.getvalue()


def upload(api, data: bytes, filename="photo.jpg", content_type="image/jpeg"):
    return api.post(
        "/api/v1/uploads",
        json=None,
        data={"file": (io.BytesIO(data), filename, content_type)},
        content_type="multipart/form-data",
    )


class TestUploading:
    def test_a_photo_is_stored_and_answered_with_its_id(self, api, tenant):
        response = upload(api, jpeg())

        assert response.status_code == 201, response.json
        data = response.json["data"]
        assert (data["content_type"], data["filename"], data["size"]) == ("image/jpeg", "photo.jpg", len(jpeg()))
        assert count(Upload, Upload.tenant_id == tenant.id) == 1 and count(StoredBlob) == 1

    @pytest.mark.parametrize(
        ("data", "name"),
        [
            (b"MZ\x90\x00\x03" + bytes(200), "photo.jpg"),  # a Windows executable, renamed
            (b"\x7fELF\x02\x01\x01" + bytes(200), "cat.png"),  # a Linux one
            (b"#!/bin/sh\nrm -rf /\n", "song.mp3"),
            (b"<html><script>alert(1)</script></html>", "page.pdf"),
            (b"BEGIN:VCARD\x00\nVERSION:3.0", "card.vcf"),
        ],
    )
    def test_a_file_that_is_not_what_it_claims_is_refused(self, api, tenant, data, name):
        response = upload(api, data, filename=name)

        assert response.status_code == 415 and error_of(response)["code"] == "unsupported_file_type"
        assert count(Upload, Upload.tenant_id == tenant.id) == 0

    def test_a_vcard_is_accepted_as_text_vcard(self, api):
        response = upload(api, b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nEND:VCARD\r\n", "ann.vcf", "text/plain")

        assert response.status_code == 201 and response.json["data"]["content_type"] == "text/vcard"

    def test_an_image_over_the_mms_limit_is_resized_to_fit(self, api, tenant):
        response = upload(api, noisy_png(), filename="scan of the receipt.png", content_type="image/png")

        assert response.status_code == 201, response.json
        data = response.json["data"]
        assert data["content_type"] == "image/jpeg" and data["filename"] == "scan-of-the-rec.jpg"
        assert data["size"] <= MMS_MAX_BYTES
        stored = db.session.get(StoredBlob, db.session.get(Upload, data["id"]).storage_key)
        assert Image.open(io.BytesIO(stored.data)).format == "JPEG"

    def test_another_file_over_the_limit_is_refused(self, api):
        response = upload(api, b"%PDF-1.7\n" + bytes(MMS_MAX_BYTES), filename="big.pdf", content_type="application/pdf")

        assert response.status_code == 413 and error_of(response)["code"] == "file_too_large"

    def test_a_body_over_the_request_limit_is_refused_before_it_is_read(self, api, app, monkeypatch):
        monkeypatch.setitem(app.config, "UPLOAD_REQUEST_MAX_BYTES", 10_000)

        response = upload(api, jpeg((400, 400)) + bytes(20_000))

        assert response.status_code == 413
        error_of(response)

    def test_a_damaged_image_is_refused(self, api):
        response = upload(api, jpeg()[:40])

        assert response.status_code == 422 and error_of(response)["code"] == "corrupt_image"

    @pytest.mark.parametrize(
        "request_kwargs",
        [
            {"json": {"file": "aGVsbG8="}},
            {"data": {"other": (io.BytesIO(b"x"), "x.jpg")}, "content_type": "multipart/form-data"},
            {"data": {"file": (io.BytesIO(b""), "empty.jpg")}, "content_type": "multipart/form-data"},
            {"data": b"\x00" * 100, "content_type": "multipart/form-data; boundary=zzz"},
        ],
    )
    def test_hostile_requests_are_clean_4xx(self, api, request_kwargs):
        response = api.post("/api/v1/uploads", **request_kwargs)

        assert 400 <= response.status_code < 500
        error_of(response)

    def test_without_a_token_it_is_401(self, client):
        response = client.post("/api/v1/uploads", data={"file": (io.BytesIO(jpeg()), "a.jpg")})

        assert response.status_code == 401


@pytest.fixture
def sms(tenant, john):
    return factories.make_conversation(tenant=tenant, channel="sms", contact=john)


def send(api, conversation, upload_ids, **fields):
    return api.post(f"/api/v1/conversations/{conversation.id}/messages", json={"upload_ids": upload_ids, **fields})


class TestSendingAnUpload:
    def test_the_provider_gets_a_public_unguessable_url_of_ours(self, api, client, sms, queue):
        upload_id = upload(api, jpeg()).json["data"]["id"]

        response = send(api, sms, [upload_id], message="Here is the photo")

        assert response.status_code == 201, response.json
        (attachment,) = response.json["data"]["message"]["attachments"]
        token = db.session.get(Upload, upload_id).token
        assert attachment["url"] == f"https://api.example.test/files/{token}/photo.jpg"
        assert len(token) >= 40
        fetched = client.get(f"/files/{token}/photo.jpg")  # no bearer token: the provider fetches it
        assert (fetched.status_code, fetched.data, fetched.mimetype) == (200, jpeg(), "image/jpeg")
        assert fetched.headers["Content-Disposition"] == 'inline; filename="photo.jpg"'
        assert client.head(f"/files/{token}/photo.jpg").status_code == 200  # Twilio checks with HEAD too

    def test_the_app_opens_what_it_sent_through_the_media_endpoint(self, api, sms, queue):
        upload_id = upload(api, jpeg()).json["data"]["id"]
        message_id = send(api, sms, [upload_id]).json["data"]["message"]["id"]

        response = api.get(f"/api/v1/messages/{message_id}/media/0", headers={"Range": "bytes=0-3"})

        assert response.status_code == 206 and response.data == jpeg()[:4]

    def test_an_expired_upload_cannot_be_sent_and_its_url_is_gone(self, api, client, tenant, sms):
        upload_id = upload(api, jpeg()).json["data"]["id"]
        row = db.session.get(Upload, upload_id)
        row.public_until = utcnow() - timedelta(seconds=1)
        db.session.commit()

        response = send(api, sms, [upload_id])

        assert response.status_code == 422 and error_of(response)["code"] == "upload_expired"
        assert client.get(f"/files/{row.token}/photo.jpg").status_code == 404
        assert count(Message, Message.tenant_id == tenant.id) == 0

    def test_another_tenants_upload_is_not_found(self, api, client, sms):
        other = factories.make_tenant(name="Globex", sms_provider="twilio")
        other_api = factories.ApiClient(client, factories.make_token(user=factories.make_user(tenant=other)))
        foreign = upload(other_api, jpeg()).json["data"]["id"]

        response = send(api, sms, [foreign])

        assert response.status_code == 404 and error_of(response)["code"] == "upload_not_found"

    def test_files_over_the_mms_limit_together_are_refused(self, api, sms, tenant):
        ids = [upload(api, b"%PDF-1.7\n" + bytes(2 * 1024 * 1024), "a.pdf").json["data"]["id"] for _ in range(3)]

        response = send(api, sms, ids)

        assert response.status_code == 413
        assert count(Message, Message.tenant_id == tenant.id) == 0

    @pytest.mark.parametrize("upload_ids", [["x"], [0], list(range(1, 12)), "1", [None]])
    def test_bad_upload_ids_are_422(self, api, sms, upload_ids):
        response = send(api, sms, upload_ids, message="hi")

        assert response.status_code == 422
        error_of(response)

    def test_an_unknown_public_url_is_404(self, client):
        response = client.get("/files/" + "x" * 43 + "/photo.jpg")

        assert response.status_code == 404 and error_of(response)["code"] == "file_not_found"


def expire(upload_id: int, ago: timedelta) -> Upload:
    row = db.session.get(Upload, upload_id)
    row.public_until = utcnow() - ago
    db.session.commit()
    return row


class TestPurgingUploadsNobodySent:
    def test_an_upload_never_sent_is_deleted_a_day_after_its_url_expired(self, api, client, tenant):
        row = expire(upload(api, jpeg()).json["data"]["id"], timedelta(days=1, minutes=1))
        token = row.token

        assert uploads.purge_unattached() == 1

        assert count(Upload, Upload.tenant_id == tenant.id) == 0 and count(StoredBlob) == 0
        assert client.get(f"/files/{token}/photo.jpg").status_code == 404

    @pytest.mark.parametrize("sent_through", ["conversation", "send"])
    def test_an_upload_a_message_carries_stays_with_the_message(self, api, sms, john, queue, sent_through):
        upload_id = upload(api, jpeg()).json["data"]["id"]
        if sent_through == "conversation":
            answer = send(api, sms, [upload_id])
        else:
            answer = api.post("/api/v1/conversations/send", json={"contact_id": john.id, "upload_ids": [upload_id]})
        assert answer.status_code == 201, answer.json
        expire(upload_id, timedelta(days=30))

        assert uploads.purge_unattached() == 0

        message_id = answer.json["data"]["message"]["id"]
        shown = api.get(f"/api/v1/messages/{message_id}/media/0")
        assert (shown.status_code, shown.data) == (200, jpeg())

    def test_an_upload_still_public_or_expired_within_the_day_is_kept(self, api, tenant):
        upload(api, jpeg())
        expire(upload(api, jpeg()).json["data"]["id"], timedelta(hours=23))

        assert uploads.purge_unattached() == 0

        assert count(Upload, Upload.tenant_id == tenant.id) == 2 and count(StoredBlob) == 2
