"""Who gets a push, and what it says: assignee or everyone, preferences, mutes, never your own doing."""

from app import jobs
from app.extensions import db
from app.providers.base import ProviderMessage
from app.services import conversations, devices, inbound, notification_content
from tests import factories
from tests.push.conftest import ANDROID_TOKEN, IOS_TOKEN, IOS_TOKEN_2, register


def customer_writes(tenant, conversation, body="Is my order ready?", **fields):
    return inbound.record_inbound(tenant, channel=conversation.channel, body=body, conversation=conversation, **fields)[
        1
    ]


def told(apns) -> dict[str, dict]:
    """token -> the aps dictionary it received."""
    return {request["token"]: request["payload"]["aps"] for request in apns.requests}


def test_an_unassigned_conversation_tells_every_user_with_a_device(apns, worker, tenant, staff, admin, conversation):
    register(staff)
    register(admin, token=IOS_TOKEN_2)
    factories.make_user(tenant=tenant)  # no phone: nothing to tell

    customer_writes(tenant, conversation)
    worker.run()

    assert set(told(apns)) == {IOS_TOKEN, IOS_TOKEN_2}


def test_an_assigned_conversation_tells_only_its_assignee(apns, worker, tenant, staff, admin, conversation):
    register(staff)
    register(admin, token=IOS_TOKEN_2)
    conversations.assign(tenant, conversation.id, staff.id, actor_id=staff.id)

    customer_writes(tenant, conversation)
    worker.run()

    assert set(told(apns)) == {IOS_TOKEN}


def test_another_accounts_users_are_never_told(apns, worker, tenant, staff, conversation):
    register(staff)
    outsider = factories.make_user(tenant=factories.make_tenant(name="Other"))
    register(outsider, token=IOS_TOKEN_2)

    customer_writes(tenant, conversation)
    worker.run()

    assert set(told(apns)) == {IOS_TOKEN}


def test_each_user_gets_their_own_unread_count_as_the_badge(apns, worker, tenant, staff, admin, conversation):
    register(staff)
    register(admin, token=IOS_TOKEN_2)
    staffs = factories.make_conversation(
        tenant=tenant, contact=factories.make_contact(tenant=tenant, phone="+15550000001"), assigned_to=staff.id
    )
    for _ in range(3):
        factories.make_message(conversation=staffs)
    archived = factories.make_conversation(
        tenant=tenant, contact=factories.make_contact(tenant=tenant, phone="+15550000002"), status="archived"
    )
    factories.make_message(conversation=archived)  # out of the inbox: counts for nobody
    factories.make_message(conversation=conversation, read=True)

    customer_writes(tenant, conversation)
    worker.run()

    assert told(apns)[IOS_TOKEN]["badge"] == 4  # 3 in their own conversation + 1 unassigned
    assert told(apns)[IOS_TOKEN_2]["badge"] == 1  # only the unassigned one


def test_preferences_turn_kinds_of_pushes_off(apns, worker, tenant, staff, admin, conversation):
    register(staff)
    register(admin, token=IOS_TOKEN_2)
    devices.update_preferences(admin, inbound_unassigned=False)

    customer_writes(tenant, conversation)
    worker.run()
    assert set(told(apns)) == {IOS_TOKEN}

    apns.reset()
    conversations.assign(tenant, conversation.id, staff.id, actor_id=admin.id)
    devices.update_preferences(staff, inbound_assigned=False, assigned_to_me=False)
    worker.run()  # the assignment: staff does not want it
    customer_writes(tenant, conversation)
    worker.run()
    assert apns.requests == []


def test_a_muted_conversation_tells_nobody_who_muted_it(apns, worker, tenant, staff, admin, conversation):
    register(staff)
    register(admin, token=IOS_TOKEN_2)
    devices.set_muted(admin, conversation.id, True)

    customer_writes(tenant, conversation)
    worker.run()

    assert set(told(apns)) == {IOS_TOKEN}


def test_an_assignment_tells_the_assignee_who_it_is_about(apns, worker, tenant, staff, admin, conversation, api):
    register(staff)
    register(admin, token=IOS_TOKEN_2)
    factories.make_message(conversation=conversation, body="Can someone call me back?")

    assert api.post(f"/api/v1/conversations/{conversation.id}/assign", json={"user_id": staff.id}).status_code == 200
    worker.run()

    [request] = apns.requests
    assert request["token"] == IOS_TOKEN
    assert request["payload"]["aps"]["alert"] == {
        "title": "Dana Scully",
        "body": "Assigned to you: Can someone call me back?",
    }
    assert request["payload"]["aps"]["badge"] == 1
    assert request["payload"]["type"] == "assigned"


def test_taking_a_conversation_yourself_tells_nobody(apns, worker, tenant, staff, conversation, staff_api):
    register(staff)

    assert staff_api.post(f"/api/v1/conversations/{conversation.id}/assign").status_code == 200
    assert staff_api.put(f"/api/v1/conversations/{conversation.id}", json={"assigned_to": staff.id}).status_code == 200

    assert worker.names() == []


def test_assigning_through_an_update_tells_the_assignee(apns, worker, tenant, staff, conversation, api):
    register(staff)

    api.put(f"/api/v1/conversations/{conversation.id}", json={"assigned_to": staff.id})
    worker.run()

    assert [request["payload"]["type"] for request in apns.requests] == ["assigned"]


def test_staff_messages_and_imported_history_tell_nobody(apns, enqueued, tenant, staff, admin, conversation, staff_api):
    register(admin)

    staff_api.post(f"/api/v1/conversations/{conversation.id}/messages", json={"message": "On its way!"})
    mirrored = ProviderMessage(channel="sms", body="typed in GHL", direction="outbound")
    inbound.record_message(tenant, mirrored, conversation=conversation)
    inbound.record_message(tenant, ProviderMessage(channel="sms", body="old", history=True), conversation=conversation)

    assert [name for name, _, _ in enqueued if name.startswith("push.")] == []


def test_what_a_phone_shows_for_photos_calls_and_voicemail(tenant, conversation):
    def shown(**fields):
        return notification_content.preview(factories.make_message(conversation=conversation, **fields))

    assert shown(body="") == "Message"
    assert shown(body="  Hello\n  there ") == "Hello there"
    assert len(shown(body="x" * 500)) == notification_content.PREVIEW_CHARS
    voice = factories.make_conversation(tenant=tenant, channel="voice", contact=conversation.contact)
    call = factories.make_message(conversation=voice, body="Voicemail, 42 s", recording_url="https://r.test/RE1")
    assert notification_content.preview(call) == "Voicemail 0:42"
    call.body, call.recording_url = "Missed call (no-answer)", None
    assert notification_content.preview(call) == "Missed call"
    call.body = "Incoming call"
    assert notification_content.preview(call) == "Incoming call"


def test_a_photo_is_announced_as_a_photo(apns, worker, tenant, staff, conversation):
    register(staff)

    customer_writes(
        tenant, conversation, body="", attachments=[{"url": "https://m.test/1.jpg", "content_type": "image/jpeg"}]
    )
    worker.run()

    assert apns.requests[0]["payload"]["aps"]["alert"]["body"] == "Photo"


def test_a_web_visitor_without_a_contact_is_named_by_what_they_gave(apns, worker, tenant, staff):
    register(staff)
    web = factories.make_conversation(tenant=tenant, channel="web", visitor_name="Jo from the website")

    customer_writes(tenant, web, body="Do you ship to Canada?")
    worker.run()

    assert apns.requests[0]["payload"]["aps"]["alert"]["title"] == "Jo from the website"
    assert apns.requests[0]["payload"]["channel"] == "web"


def test_a_push_is_enqueued_on_the_push_queue_by_name_only_after_the_commit(app, enqueued, tenant, staff, conversation):
    register(staff)

    message = customer_writes(tenant, conversation)

    assert enqueued == [(jobs.PUSH_INBOUND, (tenant.id, conversation.id), app.config["PUSH_COALESCE_SECONDS"])]
    assert app.extensions["celery"].amqp.router.route({}, jobs.PUSH_INBOUND)["queue"].name == "push"
    assert app.extensions["celery"].amqp.router.route({}, jobs.SEND_MESSAGE)["queue"].name == "sends"
    assert db.session.get(type(message), message.id) is not None


def test_an_account_without_phones_queues_no_push_at_all(worker, tenant, staff, conversation, api):
    devices.register_device(staff, None, token=ANDROID_TOKEN, platform="android")
    devices.unregister_device(staff, ANDROID_TOKEN)

    customer_writes(tenant, conversation)
    conversations.assign(tenant, conversation.id, staff.id, actor_id=None)
    api.post(f"/api/v1/conversations/{conversation.id}/read")

    assert worker.names() == []


def test_an_assignee_without_a_phone_is_skipped_quietly(apns, worker, tenant, staff, admin, conversation):
    register(admin)
    conversations.assign(tenant, conversation.id, staff.id, actor_id=admin.id)

    customer_writes(tenant, conversation)

    assert worker.run() == ["pushed to 0 users"]
    assert apns.requests == []
