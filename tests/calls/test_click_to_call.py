"""Click-to-call: the API stores the call at once, a worker places it, Twilio's reports settle it."""

import itertools
from xml.etree import ElementTree

import pytest

from app import jobs
from app.extensions import db
from app.models import Message
from app.providers.base import ProviderError
from tests import factories
from tests.api.helpers import error_of, stored_messages
from tests.calls.conftest import STAFF_PHONE
from tests.webhooks import payloads

BASE = "https://api.example.test/webhooks/twilio/voice/outbound"


def call_path(message_id, step=""):
    return f"/webhooks/twilio/voice/outbound/{message_id}" + (f"/{step}" if step else "")


def twiml(response) -> ElementTree.Element:
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    return ElementTree.fromstring(response.data)


def place(api, conversation, worker, caller) -> Message:
    response = api.post(f"/api/v1/conversations/{conversation.id}/call")
    assert response.status_code == 201, response.json
    worker.run()
    return db.session.get(Message, response.json["data"]["message"]["id"])


class TestPlacingACall:
    def test_the_api_answers_at_once_with_a_pending_outbound_voice_message(self, api, conversation, queue, caller):
        response = api.post(f"/api/v1/conversations/{conversation.id}/call")

        assert response.status_code == 201
        data = response.json["data"]
        assert data["status"] == "pending"
        assert data["message"]["channel"] == "voice" and data["message"]["direction"] == "outbound"
        assert data["conversation"]["id"] == conversation.id
        assert queue.named(jobs.SEND_MESSAGE) == [
            (jobs.SEND_MESSAGE, (conversation.tenant_id, data["message"]["id"]), None)
        ]
        assert caller.placed == []  # the worker places it, not the request

    def test_the_worker_rings_the_staff_phone_for_the_customer_and_keeps_the_call_id(
        self, api, conversation, john, worker, caller
    ):
        message = place(api, conversation, worker, caller)

        (request,) = caller.placed
        assert (request.staff_phone, request.customer_phone, request.reference) == (
            STAFF_PHONE,
            john.phone,
            str(message.id),
        )
        assert request.record is False
        assert message.delivery_status == "sent"
        assert message.provider_message_id == caller.call_id

    def test_a_call_from_a_text_conversation_goes_to_the_contacts_voice_conversation(
        self, api, tenant, john, queue, caller
    ):
        texts = factories.make_conversation(tenant=tenant, channel="sms", contact=john)

        data = api.post(f"/api/v1/conversations/{texts.id}/call").json["data"]

        assert data["conversation"]["channel"] == "voice"
        assert data["conversation"]["contact_id"] == john.id

    def test_calling_a_new_number_creates_the_contact(self, api, queue, caller):
        response = api.post("/api/v1/calls", json={"phone": "(415) 555-0142"})

        assert response.status_code == 201
        assert response.json["data"]["conversation"]["contact"]["phone"] == "+14155550142"

    def test_calling_a_contact_by_id(self, api, john, queue, caller):
        response = api.post("/api/v1/calls", json={"contact_id": john.id})

        assert response.status_code == 201
        assert response.json["data"]["conversation"]["contact_id"] == john.id

    def test_recording_is_decided_when_staff_ask(self, api, tenant, conversation, worker, caller):
        tenant.record_calls = True
        db.session.commit()

        place(api, conversation, worker, caller)

        assert caller.placed[0].record is True

    def test_a_provider_failure_fails_the_call_without_retrying(self, api, conversation, worker, caller):
        caller.error = ProviderError("Service Unavailable", code="http_503", transient=True)

        message = place(api, conversation, worker, caller)

        assert message.delivery_status == "failed" and message.error_code == "http_503"
        assert len(caller.placed) == 1 and worker.queue == []


class TestRefusals:
    def test_a_caller_without_a_phone_is_told_to_set_one(self, staff_api, conversation, caller):
        response = staff_api.post(f"/api/v1/conversations/{conversation.id}/call")

        assert response.status_code == 422
        assert error_of(response)["code"] == "no_staff_phone"

    def test_a_contact_who_asked_not_to_be_called_is_refused(self, api, tenant, conversation, john, caller):
        assert api.put(f"/api/v1/contacts/{john.id}", json={"calls_opted_out": True}).json["data"]["calls_opted_out"]

        response = api.post(f"/api/v1/conversations/{conversation.id}/call")

        assert response.status_code == 422 and error_of(response)["code"] == "opted_out"
        assert stored_messages(tenant) == 0

    def test_a_contact_who_texted_stop_can_still_be_called(self, api, conversation, john, queue, caller):
        api.put(f"/api/v1/contacts/{john.id}", json={"sms_opted_out": True})

        assert api.post(f"/api/v1/conversations/{conversation.id}/call").status_code == 201

    def test_a_standalone_account_cannot_call(self, api, tenant, conversation):
        tenant.sms_provider = None
        db.session.commit()

        response = api.post(f"/api/v1/conversations/{conversation.id}/call")

        assert response.status_code == 422 and error_of(response)["code"] == "channel_unavailable"

    def test_a_provider_that_cannot_place_calls_is_a_clear_422(self, api, conversation, use_provider):
        class TextsOnly:  # GHL: it sends, it has no API to place calls
            name = "ghl"
            rate_budget = None

        use_provider(TextsOnly())

        response = api.post(f"/api/v1/conversations/{conversation.id}/call")

        error = error_of(response)
        assert response.status_code == 422 and error["code"] == "calls_unavailable"
        assert "ghl cannot place calls" in error["message"]

    def test_another_tenants_conversation_is_not_found(self, client, conversation, caller):
        other = factories.make_tenant(name="Globex", sms_provider="twilio")
        user = factories.make_user(tenant=other, role="admin")
        user.phone = STAFF_PHONE
        db.session.commit()
        other_api = factories.ApiClient(client, factories.make_token(user=user))

        response = other_api.post(f"/api/v1/conversations/{conversation.id}/call")

        assert response.status_code == 404 and error_of(response)["code"] == "conversation_not_found"

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"contact_id": 1, "phone": "+14155550142"},
            {"phone": "+1415\x00555"},
            {"phone": 14155550142},
            {"contact_id": "x"},
            {"contact_id": 2**70},
            {"phone": "+14155550142", "extra": 1},
        ],
    )
    def test_hostile_bodies_are_clean_4xx(self, api, caller, body):
        response = api.post("/api/v1/calls", json=body)

        assert 400 <= response.status_code < 500
        error_of(response)

    def test_an_unknown_contact_id_is_not_found(self, api, caller):
        response = api.post("/api/v1/calls", json={"contact_id": 999999})

        assert response.status_code == 404


class TestStaffPhone:
    def test_users_set_their_own_phone(self, staff_api):
        response = staff_api.put("/api/v1/me", json={"phone": "415 555 0199"})

        assert response.status_code == 200
        assert response.json["data"]["phone"] == "+14155550199"
        assert staff_api.get("/api/v1/me").json["data"]["phone"] == "+14155550199"

    def test_admins_set_a_users_phone_and_staff_cannot(self, api, staff_api, staff):
        assert api.put(f"/api/v1/users/{staff.id}", json={"phone": "+14155550111"}).json["data"]["phone"] == (
            "+14155550111"
        )
        assert staff_api.put(f"/api/v1/users/{staff.id}", json={"phone": None}).status_code == 403

    @pytest.mark.parametrize("body", [{"phone": "not a phone"}, {"phone": 5}, {}, {"phone": "+1\x00"}])
    def test_bad_phones_are_refused(self, staff_api, body):
        response = staff_api.put("/api/v1/me", json=body)

        assert response.status_code == 422
        error_of(response)


class TestTwiml:
    def test_the_staff_leg_dials_the_customer_with_the_business_number(
        self, api, conversation, john, worker, twilio, caller
    ):
        message = place(api, conversation, worker, caller)

        root = twiml(twilio.post(payloads.twilio_call(caller.call_id), path=call_path(message.id)))

        (dial,) = list(root)
        assert dial.tag == "Dial"
        assert dial.get("callerId") == payloads.TWILIO_NUMBER
        assert dial.get("action") == f"{BASE}/{message.id}/dialed"
        assert dial.get("record") is None
        (number,) = list(dial)
        assert (number.tag, number.text, number.get("url")) == ("Number", john.phone, None)

    def test_a_recorded_call_plays_the_customer_the_notice_and_records_both_sides(
        self, api, tenant, conversation, worker, twilio, caller
    ):
        tenant.record_calls = True
        db.session.commit()
        message = place(api, conversation, worker, caller)

        dial = twiml(twilio.post(payloads.twilio_call(caller.call_id), path=call_path(message.id))).find("Dial")

        assert dial.get("record") == "record-from-answer-dual"
        assert dial.get("recordingStatusCallback") == f"{BASE}/{message.id}/recording"
        assert dial.find("Number").get("url") == f"{BASE}/{message.id}/notice"
        notice = twiml(twilio.post(payloads.twilio_call(caller.call_id), path=call_path(message.id, "notice")))
        assert [(verb.tag, verb.text) for verb in notice] == [("Say", "This call may be recorded.")]

    def test_another_tenants_message_id_gets_no_dial(self, worker, twilio, db):
        other = factories.make_tenant(name="Globex")
        contact = factories.make_contact(tenant=other, phone=payloads.CUSTOMER)
        conversation = factories.make_conversation(tenant=other, channel="voice", contact=contact)
        message = factories.make_message(conversation=conversation, direction="outbound", delivery_status="pending")

        root = twiml(twilio.post(payloads.twilio_call(payloads.sid("CA")), path=call_path(message.id)))

        assert [verb.tag for verb in root] == ["Say", "Hangup"]

    def test_an_unsigned_request_is_refused(self, twilio):
        response = twilio.post(payloads.twilio_call(payloads.sid("CA")), path=call_path(1), signature="")

        assert response.status_code == 403


def staff_status(call_sid, status, duration=None):
    params = payloads.twilio_call(call_sid) | {"CallStatus": status, "Direction": "outbound-api"}
    if duration is not None:
        params["CallDuration"] = str(duration)
    return "status", params


def dialed(call_sid, status, duration=None):
    params = payloads.twilio_call(call_sid) | {"CallStatus": "in-progress", "DialCallStatus": status}
    params["DialCallSid"] = payloads.sid("CA")
    if duration is not None:
        params["DialCallDuration"] = str(duration)
    return "dialed", params


def recording(call_sid):
    recording_sid = payloads.sid("RE")
    return "recording", {
        "AccountSid": payloads.ACCOUNT_SID,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{payloads.ACCOUNT_SID}/Recordings/{recording_sid}",
        "RecordingStatus": "completed",
        "RecordingDuration": "40",
        "RecordingChannels": "2",
    }


def report_all(twilio, message_id, reports, *, twice=False):
    for step, params in reports * (2 if twice else 1):
        response = twilio.deliver(params, path=call_path(message_id, step))
        assert response.status_code == 200, response.data


class TestReportsInAnyOrder:
    @pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
    def test_an_answered_call_ends_as_one_delivered_message_with_duration_and_recording(
        self, api, tenant, conversation, worker, twilio, caller, order
    ):
        message = place(api, conversation, worker, caller)
        sid = caller.call_id
        reports = [
            staff_status(sid, "ringing"),
            dialed(sid, "completed", 42),
            recording(sid),
            staff_status(sid, "completed", 50),
        ]

        report_all(twilio, message.id, [reports[i] for i in order], twice=order[0] == 0)

        db.session.refresh(message)
        assert (message.delivery_status, message.body, message.call_duration_seconds) == (
            "delivered",
            "Outgoing call, 42 s",
            42,
        )
        assert message.recording_url == reports[2][1]["RecordingUrl"]
        assert stored_messages(tenant) == 1

    @pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
    def test_a_customer_who_does_not_answer_ends_as_a_failed_call(
        self, api, conversation, worker, twilio, caller, order
    ):
        message = place(api, conversation, worker, caller)
        sid = caller.call_id
        reports = [staff_status(sid, "in-progress"), dialed(sid, "no-answer", 0), staff_status(sid, "completed", 31)]

        report_all(twilio, message.id, [reports[i] for i in order])

        db.session.refresh(message)
        assert (message.delivery_status, message.error_code, message.body) == (
            "failed",
            "call_no-answer",
            "Outgoing call: no answer",
        )

    def test_staff_not_answering_their_own_phone_fails_the_call(self, api, conversation, worker, twilio, caller):
        message = place(api, conversation, worker, caller)

        report_all(
            twilio, message.id, [staff_status(caller.call_id, "no-answer"), staff_status(caller.call_id, "ringing")]
        )

        db.session.refresh(message)
        assert message.delivery_status == "failed" and message.error_code == "staff_no-answer"

    def test_reports_that_overtake_the_worker_name_the_call_by_our_reference(
        self, api, tenant, conversation, queue, twilio, caller
    ):
        message_id = api.post(f"/api/v1/conversations/{conversation.id}/call").json["data"]["message"]["id"]
        queue.clear()  # the worker has not placed it yet when Twilio reports (it cannot, but order is not ours)
        sid = payloads.sid("CA")

        report_all(twilio, message_id, [dialed(sid, "completed", 12)])

        message = db.session.get(Message, message_id)
        assert (message.delivery_status, message.provider_message_id) == ("delivered", sid)
        assert stored_messages(tenant) == 1

    def test_a_report_about_another_call_changes_nothing(self, api, conversation, worker, twilio, caller):
        message = place(api, conversation, worker, caller)

        report_all(twilio, message.id, [dialed(payloads.sid("CA"), "completed", 12)])

        db.session.refresh(message)
        assert message.delivery_status == "sent" and message.body == "Outgoing call"


def test_a_long_call_is_not_polled_as_if_it_were_a_text(api, conversation, worker, caller, queue):
    from datetime import timedelta

    from app.models.base import utcnow
    from app.services import delivery

    message = place(api, conversation, worker, caller)
    message.sent_at = utcnow() - timedelta(minutes=15)  # still talking: only the call's reports settle it
    db.session.commit()

    assert delivery.poll_statuses() == 0
    assert queue.named(jobs.CHECK_STATUS) == []
