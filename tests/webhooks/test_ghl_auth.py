"""POST /webhooks/ghl: signed by GHL over the raw body, fresh, not seen before, for a connected location."""

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from app import jobs
from app.models import Message, WebhookEvent
from app.models.base import utcnow
from config import GHL_RSA_PUBLIC_KEY, Config
from tests.queue import Job
from tests.webhooks import payloads
from tests.webhooks.conftest import GhlKeys, count, make_ghl_tenant, one

GHL_PUBLISHED_ED25519_KEY = "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg="  # providers.md


def test_a_signed_event_is_stored_and_its_processing_enqueued_by_name(ghl, ghl_tenant, queue):
    response = ghl.post(payloads.ghl_inbound())

    assert response.status_code == 200
    assert response.json == {"status": "accepted"}
    event = one(WebhookEvent)
    assert (event.tenant_id, event.provider, event.event_type, event.state) == (
        ghl_tenant.id,
        "ghl",
        "InboundMessage",
        "received",
    )
    assert queue == [Job(jobs.PROCESS_WEBHOOK, (event.id, event.tenant_id))]  # it and the tenant's next


class TestSignatures:
    @pytest.mark.parametrize("scheme", ["ed25519", "rsa"])
    def test_either_scheme_is_accepted_on_its_own_header(self, ghl, scheme):
        assert ghl.post(payloads.ghl_inbound(), scheme=scheme).status_code == 200

    @pytest.mark.parametrize("form", ["pem", "der_b64"])
    def test_public_keys_are_read_as_pem_or_base64_der(self, ghl, app, monkeypatch, ghl_keys, form):
        monkeypatch.setitem(app.config, "GHL_WEBHOOK_ED25519_PUBLIC_KEY", getattr(GhlKeys, form)(ghl_keys.ed25519))
        monkeypatch.setitem(app.config, "GHL_WEBHOOK_RSA_PUBLIC_KEY", getattr(GhlKeys, form)(ghl_keys.rsa))

        assert ghl.post(payloads.ghl_inbound(), scheme="ed25519").status_code == 200
        assert ghl.post(payloads.ghl_inbound(), scheme="rsa").status_code == 200

    def test_an_unsigned_event_is_refused_and_nothing_stored(self, ghl, queue):
        response = ghl.post(payloads.ghl_inbound(), scheme=None)

        assert response.status_code == 403
        assert response.json["error"]["code"] == "bad_signature"
        assert count(WebhookEvent) == 0
        assert queue == []

    @pytest.mark.parametrize("scheme", ["ed25519", "rsa"])
    def test_a_signature_by_another_key_is_refused(self, ghl, scheme):
        other = ed25519.Ed25519PrivateKey.generate() if scheme == "ed25519" else _other_rsa_key()

        assert ghl.post(payloads.ghl_inbound(), scheme=scheme, key=other).status_code == 403
        assert count(WebhookEvent) == 0

    @pytest.mark.parametrize("scheme", ["ed25519", "rsa"])
    def test_a_body_changed_after_signing_is_refused(self, ghl, scheme):
        raw = json.dumps(payloads.ghl_inbound(body="hello")).encode()
        signature = ghl.sign(raw, scheme=scheme)

        response = ghl.post(raw=raw.replace(b"hello", b"STOP!"), scheme=None, headers=signature)

        assert response.status_code == 403
        assert count(WebhookEvent) == 0

    def test_the_signature_is_over_the_raw_bytes_not_the_parsed_json(self, ghl):
        raw = json.dumps(payloads.ghl_inbound(), indent=2, sort_keys=True).encode()  # same JSON, other bytes
        signature = ghl.sign(json.dumps(json.loads(raw)).encode())

        assert ghl.post(raw=raw, scheme=None, headers=signature).status_code == 403
        assert ghl.post(raw=raw).status_code == 200

    def test_a_signature_that_is_not_base64_is_refused(self, ghl):
        response = ghl.post(payloads.ghl_inbound(), scheme=None, headers={"X-GHL-Signature": "%%% not base64 %%%"})

        assert response.status_code == 403

    def test_an_rsa_signature_in_the_ed25519_header_is_refused(self, ghl):
        raw = json.dumps(payloads.ghl_inbound()).encode()
        rsa_signature = ghl.sign(raw, scheme="rsa")["x-wh-signature"]

        response = ghl.post(raw=raw, scheme=None, headers={"X-GHL-Signature": rsa_signature})

        assert response.status_code == 403

    def test_a_bad_ed25519_signature_does_not_fall_back_to_a_valid_rsa_one(self, ghl):
        raw = json.dumps(payloads.ghl_inbound()).encode()
        headers = {**ghl.sign(raw, scheme="rsa"), "X-GHL-Signature": "AAAA"}

        assert ghl.post(raw=raw, scheme=None, headers=headers).status_code == 403

    def test_by_default_the_keys_are_the_ones_ghl_publishes(self):
        assert Config.GHL_WEBHOOK_ED25519_PUBLIC_KEY == GHL_PUBLISHED_ED25519_KEY
        assert Config.GHL_WEBHOOK_RSA_PUBLIC_KEY == GHL_RSA_PUBLIC_KEY

    def test_with_ghls_published_keys_our_test_signatures_are_refused(self, ghl, app, monkeypatch):
        monkeypatch.setitem(app.config, "GHL_WEBHOOK_ED25519_PUBLIC_KEY", Config.GHL_WEBHOOK_ED25519_PUBLIC_KEY)
        monkeypatch.setitem(app.config, "GHL_WEBHOOK_RSA_PUBLIC_KEY", Config.GHL_WEBHOOK_RSA_PUBLIC_KEY)

        assert ghl.post(payloads.ghl_inbound(), scheme="ed25519").status_code == 403
        assert ghl.post(payloads.ghl_inbound(), scheme="rsa").status_code == 403


class TestFreshness:
    def test_an_event_older_than_five_minutes_is_rejected_as_stale(self, ghl):
        response = ghl.post(payloads.stale(payloads.ghl_inbound(), minutes=6))

        assert response.status_code == 400
        assert response.json["error"]["code"] == "stale_event"
        assert count(WebhookEvent) == 0

    def test_an_event_four_minutes_old_is_accepted(self, ghl):
        assert ghl.post(payloads.stale(payloads.ghl_inbound(), minutes=4)).status_code == 200

    def test_a_timestamp_far_in_the_future_is_rejected_too(self, ghl):
        future = {**payloads.ghl_inbound(), "timestamp": payloads.ghl_timestamp(utcnow() + timedelta(hours=1))}

        assert ghl.post(future).status_code == 400

    def test_a_timestamp_that_is_not_a_date_is_rejected(self, ghl):
        assert ghl.post({**payloads.ghl_inbound(), "timestamp": "yesterday"}).status_code == 400
        assert count(WebhookEvent) == 0

    def test_a_webhook_id_already_seen_is_answered_200_and_changes_nothing(self, ghl, queue):
        payload = payloads.ghl_inbound()
        ghl.deliver(payload)

        response = ghl.deliver({**payload, "timestamp": payloads.ghl_timestamp()})

        assert response.status_code == 200
        assert response.json == {"status": "duplicate"}
        assert count(WebhookEvent) == 1
        assert count(Message) == 1


class TestFindingTheTenant:
    def test_an_unknown_location_is_404_and_nothing_stored(self, ghl):
        response = ghl.post(payloads.ghl_inbound(locationId="someone-elses-location"))

        assert response.status_code == 404
        assert response.json["error"]["code"] == "tenant_not_found"
        assert count(WebhookEvent) == 0

    def test_each_location_goes_to_its_own_tenant(self, ghl, ghl_tenant):
        other = make_ghl_tenant(name="Globex", location_id="ve9EPM428h8vShlRW1KT")

        ghl.deliver(payloads.ghl_inbound(locationId="ve9EPM428h8vShlRW1KT"))

        assert one(WebhookEvent).tenant_id == other.id
        assert one(Message).tenant_id == other.id


class TestMalformedBodies:
    def test_a_body_that_is_not_json_is_400(self, ghl):
        response = ghl.post(raw=b"type=InboundMessage&locationId=x")

        assert response.status_code == 400
        assert response.json["error"]["code"] == "malformed_json"
        assert count(WebhookEvent) == 0

    @pytest.mark.parametrize("body", [[], "InboundMessage", 42, None])
    def test_json_that_is_not_an_object_is_400(self, ghl, body):
        response = ghl.post(body)

        assert response.status_code == 400
        assert response.json["error"]["code"] == "malformed_event"
        assert count(WebhookEvent) == 0

    def test_an_event_without_a_type_is_400(self, ghl):
        payload = payloads.ghl_inbound()
        del payload["type"]

        response = ghl.post(payload)

        assert response.status_code == 400
        assert response.json["error"]["code"] == "malformed_event"
        assert count(WebhookEvent) == 0

    def test_an_event_without_a_location_is_400(self, ghl):
        payload = payloads.ghl_inbound()
        del payload["locationId"]

        response = ghl.post(payload)

        assert response.status_code == 400
        assert count(WebhookEvent) == 0

    def test_an_empty_body_is_refused(self, ghl):
        assert ghl.post(raw=b"").status_code == 400
        assert ghl.post(raw=b"", scheme=None).status_code == 403


def _other_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    "fields",
    [{"type": {"name": "InboundMessage"}}, {"type": ["InboundMessage"]}, {"locationId": ["a", "b"]}, {"locationId": 7}],
    ids=["type-object", "type-list", "location-list", "location-number"],
)
def test_routing_fields_of_the_wrong_json_type_are_400_not_a_crash(ghl, fields):
    response = ghl.post({**payloads.ghl_inbound(), **fields})

    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_event"
    assert count(WebhookEvent) == 0
