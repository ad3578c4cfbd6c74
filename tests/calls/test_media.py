"""Media the app can open: recordings and attachments fetched with the tenant's credentials,
streamed with Range support, and signed links that expire and open one file only."""

import base64
from urllib.parse import urlsplit

import pytest

from app.extensions import db
from tests import factories
from tests.api.helpers import error_of
from tests.calls.conftest import on_fake_twilio
from tests.webhooks import payloads

AUDIO = bytes(range(256)) * 40  # 10,240 bytes
RECORDING = f"https://api.twilio.com/2010-04-01/Accounts/{payloads.ACCOUNT_SID}/Recordings/RE{'e5' * 16}"
PHOTO = f"https://api.twilio.com/2010-04-01/Accounts/{payloads.ACCOUNT_SID}/Messages/MM1/Media/ME1"


@pytest.fixture
def voicemail(tenant, john):
    conversation = factories.make_conversation(tenant=tenant, channel="voice", contact=john)
    return factories.make_message(conversation=conversation, body="Voicemail, 40 s", recording_url=RECORDING)


@pytest.fixture
def mms(tenant, john):
    conversation = factories.make_conversation(tenant=tenant, channel="sms", contact=john)
    message = factories.make_message(conversation=conversation, body="photo")
    message.attachments = [{"url": PHOTO, "content_type": "image/jpeg"}]
    db.session.commit()
    return message


def serve_whole(fake_twilio, url, body=AUDIO, content_type="audio/mpeg"):
    # Twilio's CDN names the length; a provider that ignores Range still says how long the file is.
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    fake_twilio.get(url, body=body, status=200, headers=headers)


class TestFetching:
    def test_the_recording_is_streamed_with_the_tenants_credentials(self, api, voicemail, fake_twilio):
        serve_whole(fake_twilio, on_fake_twilio(RECORDING) + ".mp3")

        response = api.get(f"/api/v1/messages/{voicemail.id}/recording")

        assert response.status_code == 200
        assert response.data == AUDIO
        assert response.headers["Content-Type"] == "audio/mpeg"
        assert response.headers["Accept-Ranges"] == "bytes"
        sent = fake_twilio.calls[0].request.headers["Authorization"]
        assert sent == "Basic " + base64.b64encode(f"{payloads.ACCOUNT_SID}:{payloads.AUTH_TOKEN}".encode()).decode()
        assert payloads.AUTH_TOKEN not in response.get_data(as_text=False).decode("latin-1")

    def test_an_attachment_by_index(self, api, mms, fake_twilio):
        serve_whole(fake_twilio, on_fake_twilio(PHOTO), body=b"\xff\xd8\xffjpeg", content_type="image/jpeg")

        response = api.get(f"/api/v1/messages/{mms.id}/media/0")

        assert (response.status_code, response.data, response.mimetype) == (200, b"\xff\xd8\xffjpeg", "image/jpeg")

    def test_a_range_twilio_honours_is_passed_through(self, api, voicemail, fake_twilio):
        fake_twilio.get(
            on_fake_twilio(RECORDING) + ".mp3",
            body=AUDIO[100:200],
            status=206,
            headers={"Content-Type": "audio/mpeg", "Content-Range": f"bytes 100-199/{len(AUDIO)}"},
        )

        response = api.get(f"/api/v1/messages/{voicemail.id}/recording", headers={"Range": "bytes=100-199"})

        assert response.status_code == 206
        assert response.headers["Content-Range"] == f"bytes 100-199/{len(AUDIO)}"
        assert response.data == AUDIO[100:200]
        assert fake_twilio.calls[0].request.headers["Range"] == "bytes=100-199"

    @pytest.mark.parametrize(
        ("header", "start", "end"), [("bytes=1000-1099", 1000, 1099), ("bytes=10000-", 10000, 10239)]
    )
    def test_a_range_is_served_even_when_the_provider_sends_the_whole_file(
        self, api, voicemail, fake_twilio, header, start, end
    ):
        serve_whole(fake_twilio, on_fake_twilio(RECORDING) + ".mp3")

        response = api.get(f"/api/v1/messages/{voicemail.id}/recording", headers={"Range": header})

        assert response.status_code == 206
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(AUDIO)}"
        assert response.data == AUDIO[start : end + 1]
        assert response.headers["Content-Length"] == str(end - start + 1)

    def test_a_range_past_the_end_is_416(self, api, voicemail, fake_twilio):
        serve_whole(fake_twilio, on_fake_twilio(RECORDING) + ".mp3")

        response = api.get(f"/api/v1/messages/{voicemail.id}/recording", headers={"Range": "bytes=99999-"})

        assert response.status_code == 416 and error_of(response)["code"] == "range_not_satisfiable"

    def test_a_backwards_range_is_refused(self, api, voicemail):
        response = api.get(f"/api/v1/messages/{voicemail.id}/recording", headers={"Range": "bytes=9-1"})

        assert response.status_code == 422

    def test_a_file_twilio_deleted_is_404(self, api, voicemail, fake_twilio):
        fake_twilio.get(on_fake_twilio(RECORDING) + ".mp3", status=404)

        response = api.get(f"/api/v1/messages/{voicemail.id}/recording")

        assert response.status_code == 404 and error_of(response)["code"] == "media_not_found"

    @pytest.mark.parametrize("path", ["/media/1", "/media/10", "/recording"])
    def test_missing_files_are_404(self, api, mms, path):
        response = api.get(f"/api/v1/messages/{mms.id}{path}")

        assert response.status_code == 404 and error_of(response)["code"] == "media_not_found"

    def test_another_tenants_message_is_404(self, client, voicemail):
        other = factories.make_tenant(name="Globex")
        other_api = factories.ApiClient(client, factories.make_token(user=factories.make_user(tenant=other)))

        response = other_api.get(f"/api/v1/messages/{voicemail.id}/recording")

        assert response.status_code == 404 and error_of(response)["code"] == "message_not_found"

    def test_without_a_token_it_is_401(self, client, voicemail):
        assert client.get(f"/api/v1/messages/{voicemail.id}/recording").status_code == 401

    def test_a_provider_that_keeps_no_private_media_is_a_clear_422(self, api, voicemail, use_provider):
        class TextsOnly:
            name = "ghl"
            rate_budget = None

        use_provider(TextsOnly())

        response = api.get(f"/api/v1/messages/{voicemail.id}/recording")

        assert response.status_code == 422 and error_of(response)["code"] == "media_unavailable"


class TestSignedLinks:
    def link(self, api, path) -> str:
        response = api.get(path)
        assert response.status_code == 200, response.json
        url = urlsplit(response.json["data"]["url"])
        assert response.json["data"]["url"].startswith("https://api.example.test/media/")
        return f"{url.path}?{url.query}"

    def test_a_link_streams_without_the_bearer_header_with_range(self, api, client, voicemail, fake_twilio):
        serve_whole(fake_twilio, on_fake_twilio(RECORDING) + ".mp3")
        link = self.link(api, f"/api/v1/messages/{voicemail.id}/recording/link")

        response = client.get(link, headers={"Range": "bytes=0-9"})

        assert response.status_code == 206 and response.data == AUDIO[:10]

    def test_an_expired_link_is_refused(self, api, client, voicemail, app, monkeypatch):
        monkeypatch.setitem(app.config, "MEDIA_LINK_SECONDS", -1)
        link = self.link(api, f"/api/v1/messages/{voicemail.id}/recording/link")

        response = client.get(link)

        assert response.status_code == 403 and error_of(response)["code"] == "bad_media_link"

    def test_a_link_cannot_open_another_message_or_another_part(self, api, client, voicemail, mms):
        link = self.link(api, f"/api/v1/messages/{mms.id}/media/0/link")

        for forged in (
            link.replace(f"/media/{mms.id}/", f"/media/{voicemail.id}/"),
            link.replace(f"/media/{mms.id}/0", f"/media/{mms.id}/recording"),
            link.replace("expires=", "expires=9"),
            link.split("&signature=")[0] + "&signature=" + "0" * 64,
            link.split("?")[0],
            link.replace("signature=", "signature=\x00"),
        ):
            response = client.get(forged)
            assert response.status_code == 403, forged
            error_of(response)

    def test_no_link_to_another_tenants_message(self, client, voicemail):
        other = factories.make_tenant(name="Globex")
        other_api = factories.ApiClient(client, factories.make_token(user=factories.make_user(tenant=other)))

        assert other_api.get(f"/api/v1/messages/{voicemail.id}/recording/link").status_code == 404
