"""Deliveries racing each other, in threads with their own app context and session, on committed rows."""

import contextlib
import threading

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Contact, Conversation, Message, Tenant, WebhookEvent
from app.services import contacts, conversations, ghl_events, inbound
from app.services.webhook_events import process_event
from tests import factories
from tests.webhooks import payloads
from tests.webhooks.conftest import FakeGhl, FakeTwilio, GhlKeys, Worker, make_ghl_tenant, make_twilio_tenant

PAUSE_SECONDS = 2  # how long one racer waits for the other at the rendezvous


def in_threads(app, *actions) -> list:
    """Run each action in its own thread, app context and session, released together; return their results."""
    start = threading.Barrier(len(actions))
    results, errors = [None] * len(actions), []

    def run(index, action):
        with app.app_context():
            try:
                start.wait()
                results[index] = action()
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, action)) for i, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a racer is stuck"
    assert not errors, errors
    return results


def rendezvous_after(monkeypatch, module, name: str, racers: int = 2) -> None:
    """Make each thread's first call of `module.name` wait for the other racers after it returned.

    Both have then looked and found nothing, so both go on to create: the race the code must
    survive. A racer blocked behind the other's lock never arrives; the rendezvous then times out
    and the waiting one carries on alone.
    """
    real = getattr(module, name)
    meeting = threading.Barrier(racers, timeout=PAUSE_SECONDS)
    seen = threading.local()

    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        if not getattr(seen, "met", False):
            seen.met = True
            with contextlib.suppress(threading.BrokenBarrierError):
                meeting.wait()
        return result

    monkeypatch.setattr(module, name, wrapper)


def rows(model, *where) -> list:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(model).where(*where).order_by(model.id)))


def process_each(app, event_ids):
    return in_threads(app, *(lambda event_id=event_id: process_event(event_id) for event_id in event_ids))


@pytest.fixture
def twilio_account(committed, queue):
    tenant = make_twilio_tenant()
    return tenant.id, FakeTwilio(committed.test_client(), Worker(queue))


def recorded(queue) -> list[int]:
    event_ids = [args[0] for _, args, _ in queue]
    queue.clear()
    return event_ids


class TestTwoMessagesFromOneNewNumber:
    def test_they_make_one_contact_and_one_conversation(self, committed, twilio_account, queue, monkeypatch):
        _, twilio = twilio_account
        twilio.post(payloads.twilio_sms(body="first"))
        twilio.post(payloads.twilio_sms(body="second"))
        rendezvous_after(monkeypatch, contacts, "find_contact_by_phone")

        outcomes = process_each(committed, recorded(queue))

        assert outcomes == ["processed", "processed"]
        (contact,) = rows(Contact)
        (conversation,) = rows(Conversation)
        assert conversation.contact_id == contact.id
        assert sorted(m.body for m in rows(Message)) == ["first", "second"]
        assert {m.conversation_id for m in rows(Message)} == {conversation.id}

    def test_a_text_and_a_call_at_once_share_the_contact(self, committed, twilio_account, queue, monkeypatch):
        _, twilio = twilio_account
        twilio.post(payloads.twilio_sms())
        twilio.post(payloads.twilio_call(payloads.sid("CA")))
        rendezvous_after(monkeypatch, contacts, "find_contact_by_phone")

        assert process_each(committed, recorded(queue)) == ["processed", "processed"]

        assert len(rows(Contact)) == 1
        assert sorted(c.channel for c in rows(Conversation)) == ["sms", "voice"]


class TestTwoMessagesFromAKnownContact:
    @pytest.fixture
    def contact_id(self, twilio_account):
        tenant_id, _ = twilio_account
        return factories.make_contact(tenant=db.session.get(Tenant, tenant_id), phone=payloads.CUSTOMER).id

    def test_without_an_open_conversation_they_start_one(
        self, committed, twilio_account, contact_id, queue, monkeypatch
    ):
        _, twilio = twilio_account
        twilio.post(payloads.twilio_sms(body="first"))
        twilio.post(payloads.twilio_sms(body="second"))
        rendezvous_after(monkeypatch, conversations, "find_open_conversation")

        assert process_each(committed, recorded(queue)) == ["processed", "processed"]

        (conversation,) = rows(Conversation)
        assert (conversation.contact_id, conversation.status) == (contact_id, "open")
        assert len(rows(Message, Message.conversation_id == conversation.id)) == 2

    def test_with_a_closed_conversation_they_reopen_it_once(
        self, committed, twilio_account, contact_id, queue, monkeypatch
    ):
        tenant_id, twilio = twilio_account
        tenant, contact = db.session.get(Tenant, tenant_id), db.session.get(Contact, contact_id)
        closed = factories.make_conversation(tenant=tenant, contact=contact, status="closed")
        twilio.post(payloads.twilio_sms(body="first"))
        twilio.post(payloads.twilio_sms(body="second"))
        rendezvous_after(monkeypatch, conversations, "find_open_conversation")

        assert process_each(committed, recorded(queue)) == ["processed", "processed"]

        assert [(c.id, c.status) for c in rows(Conversation)] == [(closed.id, "open")]
        assert len(rows(Message, Message.conversation_id == closed.id)) == 2


class TestOneDeliveryTwice:
    def test_twilio_posting_the_same_message_twice_at_once_stores_one_event(self, committed, twilio_account, queue):
        _, twilio = twilio_account
        params = payloads.twilio_sms()

        responses = in_threads(committed, lambda: twilio.post(params), lambda: twilio.post(params))

        assert [r.status_code for r in responses] == [200, 200]
        assert len(rows(WebhookEvent)) == 1
        assert len(queue) == 1

    def test_two_workers_given_the_same_event_process_it_once(self, committed, twilio_account, queue):
        _, twilio = twilio_account
        twilio.post(payloads.twilio_sms())
        (event_id,) = recorded(queue)

        outcomes = process_each(committed, [event_id, event_id])

        assert sorted(outcomes) == ["processed", "skipped"]
        assert len(rows(Message)) == 1

    def test_two_events_carrying_one_message_store_it_once(self, committed, twilio_account, queue, monkeypatch):
        # Two operators' replays (force claims even an event in progress): neither finds the MessageSid yet.
        tenant_id, twilio = twilio_account
        contact = factories.make_contact(tenant=db.session.get(Tenant, tenant_id), phone=payloads.CUSTOMER)
        factories.make_conversation(tenant=db.session.get(Tenant, tenant_id), contact=contact)
        twilio.post(payloads.twilio_sms())
        (event_id,) = recorded(queue)
        rendezvous_after(monkeypatch, inbound, "find_by_provider_id")

        outcomes = in_threads(
            committed, lambda: process_event(event_id, force=True), lambda: process_event(event_id, force=True)
        )

        assert outcomes == ["processed", "processed"]
        assert len(rows(Message)) == 1
        assert len(rows(Conversation)) == 1


class TestGhl:
    @pytest.fixture
    def ghl(self, committed, queue, monkeypatch, ghl_keys, ghl_directory):
        monkeypatch.setitem(committed.config, "GHL_WEBHOOK_ED25519_PUBLIC_KEY", GhlKeys.der_b64(ghl_keys.ed25519))
        make_ghl_tenant()
        return FakeGhl(committed.test_client(), Worker(queue), ghl_keys)

    def test_two_messages_from_one_new_ghl_contact_make_one_contact_and_conversation(
        self, committed, ghl, queue, monkeypatch
    ):
        ghl.post(payloads.ghl_inbound(body="first"))
        ghl.post(payloads.ghl_inbound(body="second"))
        rendezvous_after(monkeypatch, ghl_events, "find_contact")

        assert process_each(committed, recorded(queue)) == ["processed", "processed"]

        (contact,) = rows(Contact)
        assert contact.ghl_contact_id == payloads.GHL_CONTACT_ID
        (conversation,) = rows(Conversation)
        assert sorted(m.body for m in rows(Message, Message.conversation_id == conversation.id)) == ["first", "second"]

    def test_the_same_webhook_posted_twice_at_once_is_one_event(self, committed, ghl, queue):
        payload = payloads.ghl_inbound()

        responses = in_threads(committed, lambda: ghl.post(payload), lambda: ghl.post(payload))

        assert sorted(r.json["status"] for r in responses) == ["accepted", "duplicate"]
        assert len(rows(WebhookEvent)) == 1
