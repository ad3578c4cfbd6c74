"""The API half of a send: store the message `pending`, commit, then enqueue; idempotency keys; MMS; STOP."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import IdempotencyKey, Message
from app.models.base import utcnow
from tests import factories
from tests.queue import Job

PHOTO = "https://cdn.example.test/menu.jpg"


def stored_outbound(tenant) -> list[Message]:
    return db.session.scalars(
        sa.select(Message).where(Message.tenant_id == tenant.id, Message.direction == "outbound").order_by(Message.id)
    ).all()


@pytest.fixture
def to_conversation(conversation):
    return f"/api/v1/conversations/{conversation.id}/messages", {}


@pytest.fixture
def to_phone(john):
    return "/api/v1/conversations/send", {"phone": john.phone, "channel": "sms"}


@pytest.fixture(params=["conversation endpoint", "send endpoint"])
def endpoint(request):
    """Both ways staff send: into a conversation, or to a contact/phone. Returns (url, fields naming the recipient)."""
    return request.getfixturevalue("to_conversation" if request.param == "conversation endpoint" else "to_phone")


def post(api, endpoint, key: str | None = None, **fields):
    url, recipient = endpoint
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(url, json={**recipient, "message": "Your table is ready", **fields}, headers=headers)


class TestSending:
    def test_the_message_is_stored_pending_and_handed_to_a_worker_by_id(self, api, endpoint, tenant, queue):
        response = post(api, endpoint)

        assert response.status_code == 201, response.json
        data = response.json["data"]
        assert data["status"] == data["message"]["delivery_status"] == "pending"
        [message] = stored_outbound(tenant)
        assert (message.id, message.delivery_status, message.body) == (
            data["message"]["id"],
            "pending",
            data["message"]["body"],
        )
        assert queue == [Job(jobs.SEND_MESSAGE, (tenant.id, message.id))]

    def test_the_enqueue_comes_after_the_commit(self, api, endpoint, tenant, queue, monkeypatch):
        seen_at_enqueue = []

        def enqueue(name, *args, countdown=None):
            seen_at_enqueue.append((db.session.new, db.session.dirty, db.session.get(Message, args[1])))
            return True

        monkeypatch.setattr("app.celery.enqueue", enqueue)

        post(api, endpoint)

        [(unflushed, unsaved, message)] = seen_at_enqueue
        assert not unflushed and not unsaved
        assert message.delivery_status == "pending"

    def test_a_broker_that_refuses_the_task_still_answers_201_with_the_message_pending(
        self, api, endpoint, tenant, monkeypatch
    ):
        monkeypatch.setattr("app.celery.enqueue", lambda *args, **kwargs: False)  # as when Redis is down

        response = post(api, endpoint)

        assert response.status_code == 201
        assert response.json["data"]["status"] == "pending"
        assert [(m.delivery_status, m.enqueued_at) for m in stored_outbound(tenant)] == [("pending", None)]

    def test_web_chat_needs_no_worker(self, api, tenant, queue):
        web = factories.make_conversation(tenant=tenant, channel="web")

        response = api.post(f"/api/v1/conversations/{web.id}/messages", json={"message": "Hi there"})

        assert response.json["data"]["status"] == "sent"
        assert queue == []


class TestIdempotencyKey:
    def test_the_same_key_answers_with_the_first_message_and_sends_nothing_new(self, api, endpoint, tenant, queue):
        first = post(api, endpoint, key="order-42")

        again = post(api, endpoint, key="order-42")

        assert again.status_code == first.status_code == 201
        assert again.json["data"]["message"]["id"] == first.json["data"]["message"]["id"]
        assert again.json["data"]["status"] == first.json["data"]["status"] == "pending"
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert len(stored_outbound(tenant)) == 1
        assert len(queue) == 1

    def test_a_replay_reports_where_the_first_message_stands_now(self, api, endpoint, tenant, queue):
        first = post(api, endpoint, key="order-42")
        message = db.session.get(Message, first.json["data"]["message"]["id"])
        message.delivery_status = "delivered"
        db.session.commit()

        again = post(api, endpoint, key="order-42")

        assert again.json["data"]["message"]["id"] == message.id
        assert again.json["data"]["status"] == "delivered"

    def test_the_same_key_with_a_different_body_is_refused(self, api, endpoint, tenant, queue):
        post(api, endpoint, key="order-42")

        response = post(api, endpoint, key="order-42", message="Something else")

        assert response.status_code == 409
        assert response.json["error"]["code"] == "idempotency_key_reused"
        assert len(stored_outbound(tenant)) == 1
        assert len(queue) == 1

    def test_the_same_key_with_other_media_is_refused(self, api, endpoint, queue):
        post(api, endpoint, key="order-42")

        response = post(api, endpoint, key="order-42", media_urls=[PHOTO])

        assert response.status_code == 409

    def test_the_same_key_on_the_other_endpoint_is_a_different_request(self, api, to_conversation, to_phone, queue):
        post(api, to_conversation, key="order-42")

        response = post(api, to_phone, key="order-42")

        assert response.status_code == 409
        assert response.json["error"]["code"] == "idempotency_key_reused"

    def test_keys_belong_to_one_tenant(self, api, endpoint, tenant, queue):
        other = factories.make_tenant(name="Globex", sms_provider="simulator")
        other_user = factories.make_user(tenant=other, role="staff")
        other_api = factories.ApiClient(api.client, factories.make_token(user=other_user))
        other_contact = factories.make_contact(tenant=other, phone="+15557654321")
        other_conversation = factories.make_conversation(tenant=other, contact=other_contact)
        post(api, endpoint, key="order-42")

        response = post(other_api, (f"/api/v1/conversations/{other_conversation.id}/messages", {}), key="order-42")

        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
        assert len(stored_outbound(other)) == 1

    def test_a_key_older_than_24_hours_sends_again(self, api, endpoint, tenant, queue):
        first = post(api, endpoint, key="order-42")
        db.session.execute(sa.update(IdempotencyKey).values(inserted_at=utcnow() - timedelta(hours=24, minutes=1)))
        db.session.commit()

        again = post(api, endpoint, key="order-42")

        assert again.status_code == 201
        assert again.json["data"]["message"]["id"] != first.json["data"]["message"]["id"]
        assert len(stored_outbound(tenant)) == 2
        assert len(queue) == 2

    def test_a_key_younger_than_24_hours_still_replays(self, api, endpoint, tenant, queue):
        post(api, endpoint, key="order-42")
        db.session.execute(sa.update(IdempotencyKey).values(inserted_at=utcnow() - timedelta(hours=23, minutes=59)))
        db.session.commit()

        assert post(api, endpoint, key="order-42").headers["Idempotent-Replayed"] == "true"
        assert len(stored_outbound(tenant)) == 1

    def test_without_a_key_every_request_is_a_new_message(self, api, endpoint, tenant, queue):
        post(api, endpoint)
        post(api, endpoint)

        assert len(stored_outbound(tenant)) == 2

    def test_a_key_longer_than_255_characters_is_refused(self, api, endpoint, tenant, queue):
        response = post(api, endpoint, key="k" * 256)

        assert response.status_code == 422
        assert "Idempotency-Key" in response.json["error"]["fields"]
        assert stored_outbound(tenant) == []

    def test_a_refused_send_does_not_use_up_the_key(self, api, endpoint, john, queue):
        john.sms_opted_out_at = utcnow()
        db.session.commit()
        assert post(api, endpoint, key="order-42").status_code == 422

        john.sms_opted_out_at = None
        db.session.commit()
        response = post(api, endpoint, key="order-42")

        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers


class TestMms:
    def test_media_urls_are_stored_as_attachments_in_order(self, api, endpoint, tenant, queue):
        urls = [f"https://cdn.example.test/photo-{i}.jpg" for i in range(10)]

        response = post(api, endpoint, media_urls=urls)

        assert response.status_code == 201, response.json
        expected = [{"url": url, "content_type": None} for url in urls]
        assert response.json["data"]["message"]["attachments"] == expected
        assert stored_outbound(tenant)[0].attachments == expected

    def test_a_picture_needs_no_text(self, api, endpoint, queue):
        response = post(api, endpoint, message="", media_urls=[PHOTO])

        assert response.status_code == 201

    @pytest.mark.parametrize(
        "urls",
        [
            ["http://cdn.example.test/menu.jpg"],
            ["ftp://cdn.example.test/menu.jpg"],
            ["not a url"],
            [f"https://cdn.example.test/{i}.jpg" for i in range(11)],
        ],
        ids=["plain http", "ftp", "not a url", "eleven"],
    )
    def test_only_up_to_ten_https_urls_are_accepted(self, api, endpoint, tenant, queue, urls):
        response = post(api, endpoint, media_urls=urls)

        assert response.status_code == 422
        assert "media_urls" in response.json["error"]["fields"]
        assert stored_outbound(tenant) == []
        assert queue == []


class TestOptOut:
    @pytest.fixture
    def john(self, tenant):
        return factories.make_contact(tenant=tenant, first_name="John", phone="+15551234567", sms_opted_out_at=utcnow())

    def test_a_contact_who_replied_stop_is_refused_and_nothing_is_stored(self, api, endpoint, tenant, queue):
        response = post(api, endpoint)

        assert response.status_code == 422
        assert response.json["error"]["code"] == "opted_out"
        assert stored_outbound(tenant) == []
        assert queue == []

    def test_the_contact_is_refused_by_id_too(self, api, tenant, john, queue):
        response = api.post("/api/v1/conversations/send", json={"contact_id": john.id, "message": "Hi"})

        assert response.status_code == 422
        assert response.json["error"]["code"] == "opted_out"

    def test_and_on_whatsapp(self, api, tenant, john, queue):
        response = api.post(
            "/api/v1/conversations/send", json={"contact_id": john.id, "channel": "whatsapp", "message": "Hi"}
        )

        assert response.json["error"]["code"] == "opted_out"
        assert stored_outbound(tenant) == []
