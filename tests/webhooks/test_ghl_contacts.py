"""GHL's message events name the contact only by id: who it is comes from GHL, never a nameless twin."""

import uuid

from app import jobs
from app.models import Contact, Conversation, Message, WebhookEvent
from app.providers.base import ProviderError, RateBudget
from tests import factories
from tests.webhooks import payloads
from tests.webhooks.conftest import all_rows, count, one


def test_a_contact_we_know_by_phone_is_linked_not_duplicated(ghl, ghl_tenant, ghl_directory):
    known = factories.make_contact(tenant=ghl_tenant, phone=payloads.CUSTOMER, first_name="Jo")
    ghl_directory.contacts[payloads.GHL_CONTACT_ID] = {"phone": payloads.CUSTOMER, "firstName": "Joanne"}

    ghl.deliver(payloads.ghl_inbound(body="It's Jo again"))

    assert count(Contact) == 1
    linked = one(Contact, Contact.id == known.id)
    assert (linked.ghl_contact_id, linked.first_name) == (payloads.GHL_CONTACT_ID, "Jo")
    conversation = one(Conversation, Conversation.contact_id == known.id)
    assert one(Message, Message.conversation_id == conversation.id).body == "It's Jo again"


def test_a_new_contact_gets_ghls_name_phone_and_email(ghl, ghl_directory):
    ghl_directory.contacts[payloads.GHL_CONTACT_ID] = {
        "phone": "(415) 555-0199",
        "firstName": "Ana",
        "lastName": "Lima",
        "email": "ana@example.com",
    }

    ghl.deliver(payloads.ghl_inbound())

    contact = one(Contact)
    assert (contact.first_name, contact.last_name, contact.phone, contact.email, contact.ghl_contact_id) == (
        "Ana",
        "Lima",
        "+14155550199",
        "ana@example.com",
        payloads.GHL_CONTACT_ID,
    )


def test_a_contact_ghl_does_not_know_is_still_stored_by_its_id(ghl, ghl_directory):
    ghl.deliver(payloads.ghl_inbound())

    contact = one(Contact)
    assert (contact.ghl_contact_id, contact.phone) == (payloads.GHL_CONTACT_ID, None)
    assert ghl_directory.lookups == [payloads.GHL_CONTACT_ID]


def test_ghl_is_asked_once_a_contact_is_linked(ghl, ghl_directory):
    ghl.deliver(payloads.ghl_inbound(body="one"))
    ghl.deliver(payloads.ghl_inbound(body="two"))

    assert ghl_directory.lookups == [payloads.GHL_CONTACT_ID]
    assert count(Message) == 2


def test_when_ghl_cannot_be_reached_the_event_waits_for_a_retry_and_nothing_is_stored(ghl, ghl_directory, monkeypatch):
    def unreachable(contact_id):
        raise ProviderError("GHL unreachable: ConnectionError", code="network", transient=True)

    monkeypatch.setattr(ghl_directory, "get_contact", unreachable)

    response = ghl.deliver(payloads.ghl_inbound())

    assert response.status_code == 200  # accepted and kept: the retry task processes it later
    assert one(WebhookEvent).state == "failed"
    assert (count(Contact), count(Message)) == (0, 0)


def test_over_ghls_rate_limit_the_event_waits_for_a_task_of_its_own_instead_of_a_sleeping_worker(
    ghl, ghl_directory, queue, app
):
    ghl_directory.rate_budget = RateBudget("1/minute", f"ghl:test-{uuid.uuid4().hex}")
    for contact_id, phone in (("gc-1", "+14155550101"), ("gc-2", "+14155550102")):
        ghl_directory.contacts[contact_id] = {"phone": phone}
    ghl.post(payloads.ghl_inbound(contactId="gc-1"))
    ghl.post(payloads.ghl_inbound(contactId="gc-2"))
    name, args, _ = queue.pop(0)  # the first event's task: it takes the tenant's next new event too

    assert app.extensions["celery"].tasks[name](*args) == {"processed": 1, "retrying": 1}

    first, second = all_rows(WebhookEvent)
    assert (first.state, second.state, second.attempts) == ("processed", "received", 0)
    assert ghl_directory.lookups == ["gc-1"] and count(Message) == 1
    # Queued to run once GHL's window has room; the event is not new any more, so no task takes it sooner.
    [later] = [job for job in queue if job.countdown is not None]
    assert later.name == jobs.PROCESS_WEBHOOK and later.args == (second.id,) and 50 < later.countdown <= 60
    name, args, _ = queue.pop(0)  # the second event's own task, queued as it was stored: leaves it to that retry
    assert app.extensions["celery"].tasks[name](*args) == {"skipped": 1}
    assert ghl_directory.lookups == ["gc-1"]
