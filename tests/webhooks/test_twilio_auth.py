"""POST /webhooks/twilio: only requests Twilio signed for this tenant are stored, and each finds its tenant."""

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from app import jobs
from app.models import Message, WebhookEvent
from tests.queue import Job
from tests.webhooks import payloads
from tests.webhooks.conftest import TWILIO_URL, FakeTwilio, all_rows, count, make_twilio_tenant, one


def test_a_signed_inbound_sms_is_stored_and_its_processing_enqueued_by_name(twilio, twilio_tenant, queue):
    response = twilio.post(payloads.twilio_sms())

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    event = one(WebhookEvent)
    assert (event.tenant_id, event.provider, event.state) == (twilio_tenant.id, "twilio", "received")
    assert queue == [Job(jobs.PROCESS_WEBHOOK, (event.id, event.tenant_id))]  # it and the tenant's next


class TestTheSignature:
    def test_a_missing_signature_is_refused_and_nothing_stored(self, twilio, queue):
        response = twilio.post(payloads.twilio_sms(), signature="")

        assert response.status_code == 403
        assert response.json["error"]["code"] == "bad_signature"
        assert count(WebhookEvent) == 0
        assert queue == []

    def test_a_forged_signature_is_refused(self, twilio):
        response = twilio.post(payloads.twilio_sms(), signature="bm90LWEtc2lnbmF0dXJlLWF0LWFsbA==")

        assert response.status_code == 403
        assert count(WebhookEvent) == 0

    def test_a_signature_made_with_another_tenants_auth_token_is_refused(self, twilio):
        response = twilio.post(payloads.twilio_sms(), auth_token=payloads.OTHER_AUTH_TOKEN)

        assert response.status_code == 403
        assert count(WebhookEvent) == 0

    def test_each_tenant_is_checked_with_its_own_account_s_token(self, twilio, twilio_tenant):
        globex_sid = "AC" + "c3" * 16
        globex = make_twilio_tenant(
            name="Globex",
            account_sid=globex_sid,
            auth_token=payloads.OTHER_AUTH_TOKEN,
            twilio_phone_number="+15005550077",
        )
        for_acme = payloads.twilio_sms()
        for_globex = payloads.twilio_sms(AccountSid=globex_sid, to="+15005550077")

        assert twilio.post(for_acme, auth_token=payloads.OTHER_AUTH_TOKEN).status_code == 403
        assert twilio.post(for_globex, auth_token=payloads.AUTH_TOKEN).status_code == 403
        assert twilio.post(for_globex, auth_token=payloads.OTHER_AUTH_TOKEN).status_code == 200
        assert [e.tenant_id for e in all_rows(WebhookEvent)] == [globex.id]

    def test_parameters_changed_after_signing_are_refused(self, twilio):
        params = payloads.twilio_sms(body="hello")
        signature = twilio.signature(TWILIO_URL, params)

        response = twilio.post({**params, "Body": "STOP"}, signature=signature)

        assert response.status_code == 403
        assert count(WebhookEvent) == 0

    def test_a_signature_for_another_url_is_refused(self, twilio):
        response = twilio.post(payloads.twilio_sms(), signed_url="https://evil.example/webhooks/twilio")

        assert response.status_code == 403

    def test_the_url_signed_is_the_public_one_not_the_one_the_app_sees(self, twilio):
        # The test client calls http://localhost/...; Twilio signed https://api.example.test/...
        response = twilio.post(payloads.twilio_sms(), signed_url=TWILIO_URL)

        assert response.status_code == 200

    def test_the_query_string_is_part_of_the_signed_url(self, twilio):
        assert twilio.post(payloads.twilio_sms(), query="?source=number").status_code == 200
        assert twilio.post(payloads.twilio_sms(), query="?source=number", signed_url=TWILIO_URL).status_code == 403

    def test_sub_paths_are_signed_with_their_own_url(self, twilio):
        response = twilio.post(payloads.twilio_sms(), path="/webhooks/twilio/sms")

        assert response.status_code == 200
        assert twilio.post(payloads.twilio_sms(), path="/webhooks/twilio/sms", signed_url=TWILIO_URL).status_code == 403

    def test_behind_a_proxy_the_forwarded_scheme_and_host_rebuild_the_url_twilio_called(self, twilio, app, monkeypatch):
        # PROXY_HOPS=1, as create_app() sets it up behind one proxy (Heroku's router).
        monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1))
        # Twilio called the tenant's own hostname, which the proxy forwards to us.
        public = "https://hooks.acme.example/webhooks/twilio"
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.acme.example"}

        assert twilio.post(payloads.twilio_sms(), signed_url=public, headers=forwarded).status_code == 200
        assert twilio.post(payloads.twilio_sms(), signed_url=public).status_code == 403

    def test_a_port_twilio_added_to_the_url_does_not_break_the_check(self, twilio):
        response = twilio.post(payloads.twilio_sms(), signed_url="https://api.example.test:443/webhooks/twilio")

        assert response.status_code == 200

    def test_a_messaging_service_delivery_passes_the_check(self, twilio, db):
        # Another product reverted its check because these failed: the service's sender pool means
        # `To` is not the tenant's own number, and MessagingServiceSid is one more signed parameter.
        params = payloads.twilio_sms(to="+15005550001", MessagingServiceSid=payloads.SERVICE_SID)

        response = twilio.deliver(params)

        assert response.status_code == 200
        assert count(Message) == 1


class TestFindingTheTenant:
    def test_an_unknown_account_is_answered_as_a_bad_signature_and_nothing_stored(self, twilio):
        unknown = twilio.post(payloads.twilio_sms(AccountSid="AC" + "f0" * 16))
        known_but_unsigned = twilio.post(payloads.twilio_sms(), signature="bm90LWEtc2lnbmF0dXJl")

        # The same status and body: nobody can test whether an AccountSid is one of our customers.
        assert (unknown.status_code, unknown.json) == (known_but_unsigned.status_code, known_but_unsigned.json)
        assert unknown.status_code == 403
        assert unknown.json["error"]["code"] == "bad_signature"
        assert count(WebhookEvent) == 0

    def test_a_request_without_account_sid_is_403(self, twilio):
        params = payloads.twilio_sms()
        del params["AccountSid"]

        assert twilio.post(params).status_code == 403

    def test_a_tenant_that_left_twilio_no_longer_receives(self, twilio, twilio_tenant, db):
        twilio_tenant.sms_provider = None
        db.session.commit()

        assert twilio.post(payloads.twilio_sms()).status_code == 403

    @pytest.fixture
    def shared_account(self, db, client, worker):
        """Two tenants on one Twilio account (one auth token): one by number, one by messaging service."""
        by_number = make_twilio_tenant(name="ByNumber", twilio_phone_number="+15005550011")
        by_service = make_twilio_tenant(
            name="ByService", twilio_phone_number="+15005550022", twilio_messaging_service_sid=payloads.SERVICE_SID
        )
        return by_number, by_service, FakeTwilio(client, worker)

    def test_one_account_serving_several_tenants_picks_the_tenant_by_the_number_called(self, shared_account):
        by_number, by_service, twilio = shared_account

        twilio.post(payloads.twilio_sms(to="+15005550011"))
        twilio.post(payloads.twilio_sms(to="+15005550022"))

        assert [e.tenant_id for e in all_rows(WebhookEvent)] == [by_number.id, by_service.id]

    def test_one_account_serving_several_tenants_picks_the_tenant_by_messaging_service(self, shared_account):
        _, by_service, twilio = shared_account
        params = payloads.twilio_sms(to="+15005550099", MessagingServiceSid=payloads.SERVICE_SID)

        assert twilio.deliver(params).status_code == 200
        assert one(WebhookEvent).tenant_id == by_service.id
        assert one(Message).tenant_id == by_service.id

    def test_a_status_callback_finds_the_tenant_by_its_own_number_as_sender(self, shared_account):
        by_number, _, twilio = shared_account
        params = payloads.twilio_status(payloads.sid("SM"), "delivered", From="+15005550011")

        assert twilio.post(params).status_code == 200
        assert one(WebhookEvent).tenant_id == by_number.id

    def test_a_number_no_tenant_of_the_account_owns_is_404(self, shared_account):
        _, _, twilio = shared_account

        assert twilio.post(payloads.twilio_sms(to="+15005550099")).status_code == 404
        assert count(WebhookEvent) == 0

    def test_a_tenant_copying_anothers_account_and_number_neither_receives_nor_blocks_its_traffic(
        self, twilio_tenant, twilio, db
    ):
        impostor = make_twilio_tenant(name="Impostor", auth_token="a-token-the-impostor-typed")

        response = twilio.deliver(payloads.twilio_sms(body="for the real owner"))

        assert response.status_code == 200
        assert one(WebhookEvent).tenant_id == twilio_tenant.id
        assert one(Message).tenant_id == twilio_tenant.id
        assert impostor.id != twilio_tenant.id


class TestMalformedRequests:
    def test_a_body_without_message_or_call_sid_is_400_and_nothing_stored(self, twilio):
        params = payloads.twilio_sms()
        for name in ("MessageSid", "SmsSid", "SmsMessageSid"):
            del params[name]

        response = twilio.post(params)

        assert response.status_code == 400
        assert response.json["error"]["code"] == "unknown_event"
        assert count(WebhookEvent) == 0

    def test_an_empty_body_is_400(self, twilio):
        assert twilio.post({}).status_code == 400
        assert count(WebhookEvent) == 0

    def test_a_json_body_is_400(self, twilio, client):
        response = client.post("/webhooks/twilio", json=payloads.twilio_sms())

        assert response.status_code == 400
        assert response.is_json
        assert count(WebhookEvent) == 0

    def test_get_is_not_allowed(self, client, twilio):
        assert client.get("/webhooks/twilio").status_code == 405
