"""An accepted event is never lost: stored before processing, retried when processing failed, replayable."""

import shlex
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from sqlalchemy.exc import OperationalError
from twilio.request_validator import RequestValidator

from app import jobs
from app.models import Message, WebhookEvent
from app.models.base import utcnow
from app.services import ghl_events, twilio_events, webhook_events
from tests import factories
from tests.queue import Job
from tests.webhooks import payloads
from tests.webhooks.conftest import FakeTwilio, Worker, all_rows, count, one


@pytest.fixture
def database_hiccup(monkeypatch):
    """Makes the next `n` inbound stores fail, as a lost connection would."""
    failures = {"left": 0}
    real = twilio_events.record_reported

    def flaky(*args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(twilio_events, "record_reported", flaky)
    return failures


def make_old(event: WebhookEvent, db, *, seconds: int = 3600) -> None:
    """As if it was received, queued and last taken up `seconds` ago."""
    long_ago = utcnow() - timedelta(seconds=seconds)
    event.received_at = long_ago
    event.enqueued_at = event.enqueued_at and long_ago
    event.claimed_at = event.claimed_at and long_ago
    db.session.commit()


class TestStoredBeforeProcessing:
    def test_the_raw_event_is_committed_as_received_before_any_processing(self, twilio, queue):
        params = payloads.twilio_sms(body="hello")

        twilio.post(params)

        event = one(WebhookEvent)
        assert (event.state, event.attempts, event.event_type) == ("received", 0, "message.inbound")
        assert event.payload == params
        assert event.event_key == f"{params['MessageSid']}:received"
        assert count(Message) == 0  # the worker has not run yet
        assert queue == [Job(jobs.PROCESS_WEBHOOK, (event.id, event.tenant_id))]

    def test_a_ghl_event_the_database_could_not_take_is_answered_429_so_ghl_sends_it_again(self, ghl, monkeypatch):
        def lost_connection(*args, **kwargs):
            raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

        monkeypatch.setattr(webhook_events, "record_event", lost_connection)

        response = ghl.post(payloads.ghl_inbound())

        assert response.status_code == 429  # GHL retries a delivery only when it got a 429
        assert response.headers["Retry-After"] == "30"
        assert response.json["error"]["code"] == "try_again"

    def test_a_database_down_before_the_tenant_is_found_is_answered_429_too(self, ghl, monkeypatch):
        def database_down(payload):
            raise OperationalError("SELECT", {}, Exception("connection refused"))

        monkeypatch.setattr(ghl_events, "find_tenant", database_down)

        assert ghl.post(payloads.ghl_inbound()).status_code == 429

    def test_the_ghl_event_is_stored_as_received_with_its_raw_payload(self, ghl):
        payload = payloads.ghl_inbound()

        ghl.post(payload)

        event = one(WebhookEvent)
        assert (event.state, event.event_key, event.payload) == ("received", f"webhook:{payload['webhookId']}", payload)

    def test_with_the_real_broker_seam_the_request_still_answers_and_the_event_waits(
        self, twilio_tenant, client, real_broker
    ):
        # No monkeypatch: the test config's memory:// broker accepts the task and nothing runs it.
        response = FakeTwilio(client, Worker([])).post(payloads.twilio_sms())

        assert response.status_code == 200
        assert one(WebhookEvent).state == "received"

    def test_processing_marks_the_event_processed(self, twilio, worker):
        twilio.post(payloads.twilio_sms())

        assert worker.run() == [{"processed": 1}]
        event = one(WebhookEvent)
        assert (event.state, event.attempts, event.last_error) == ("processed", 1, None)
        assert event.processed_at is not None

    def test_a_redelivered_task_for_a_processed_event_is_skipped(self, twilio, worker):
        twilio.deliver(payloads.twilio_sms())
        event = one(WebhookEvent)

        assert webhook_events.process_event(event.id) == "skipped"
        assert count(Message) == 1


class TestFailures:
    def test_events_queued_behind_others_are_not_queued_again(self, twilio, queue, db):
        twilio.post(payloads.twilio_sms())
        event = one(WebhookEvent)
        event.received_at = utcnow() - timedelta(minutes=5)  # a backlog: still waiting in the queue
        db.session.commit()
        queue.clear()

        assert webhook_events.retry_unprocessed() == 0
        assert queue == []

    def test_an_event_whose_enqueue_failed_is_queued_a_minute_later(self, twilio, queue, db, monkeypatch):
        monkeypatch.setattr(webhook_events, "enqueue_unless_waiting", lambda *args, **kwargs: False)  # Redis is down
        twilio.post(payloads.twilio_sms())
        event = one(WebhookEvent)
        assert event.enqueued_at is None
        event.received_at = utcnow() - timedelta(seconds=61)
        db.session.commit()

        assert webhook_events.retry_unprocessed() == 1  # Redis is back
        assert queue == [Job(jobs.PROCESS_WEBHOOK, (event.id,))]

    def test_a_failure_keeps_the_event_with_its_error_and_stores_nothing_half_done(self, twilio, database_hiccup):
        database_hiccup["left"] = 1

        response = twilio.deliver(payloads.twilio_sms())

        assert response.status_code == 200  # Twilio was answered; the event is ours to finish
        event = one(WebhookEvent)
        assert (event.state, event.attempts) == ("failed", 1)
        assert "server closed the connection" in event.last_error
        assert count(Message) == 0

    def test_the_sweeper_retries_failed_stuck_and_never_enqueued_events(self, twilio, worker, queue, db):
        failed, stuck, lost, done, young = (payloads.twilio_sms(body=str(n)) for n in range(5))
        for params in (failed, stuck, lost, done, young):
            twilio.post(params)
        queue.clear()  # as if the broker lost every enqueue
        events = {e.payload["Body"]: e for e in all_rows(WebhookEvent)}
        webhook_events.process_event(events["3"].id)  # processed
        events["0"].state, events["0"].attempts, events["0"].claimed_at = "failed", 1, utcnow()
        events["1"].state, events["1"].attempts, events["1"].claimed_at = "processing", 1, utcnow()  # its worker died
        db.session.commit()
        for body in "0123":
            make_old(events[body], db)

        assert webhook_events.retry_unprocessed() == 3

        assert sorted(args[0] for _, args, _ in queue) == sorted(events[b].id for b in "012")
        assert {job.name for job in queue} == {jobs.PROCESS_WEBHOOK}
        assert worker.run() == [{"processed": 1}] * 3  # each its own task
        assert sorted(m.body for m in all_rows(Message)) == ["0", "1", "2", "3"]
        assert one(WebhookEvent, WebhookEvent.id == events["4"].id).state == "received"  # too young to retry yet

    def test_an_event_out_of_attempts_is_left_for_an_operator(self, twilio, queue, db, app):
        twilio.post(payloads.twilio_sms())
        event = one(WebhookEvent)
        event.state, event.attempts = "failed", app.config["WEBHOOK_MAX_ATTEMPTS"]
        make_old(event, db)
        queue.clear()

        assert webhook_events.retry_unprocessed() == 0
        assert queue == []

    def test_a_failed_event_succeeds_when_retried(self, twilio, worker, database_hiccup, db):
        database_hiccup["left"] = 1
        twilio.deliver(payloads.twilio_sms())
        make_old(one(WebhookEvent), db)

        webhook_events.retry_unprocessed()
        worker.run()

        event = one(WebhookEvent)
        assert (event.state, event.attempts) == ("processed", 2)
        assert count(Message) == 1

    def test_a_recording_callback_overtaking_its_call_succeeds_on_retry(self, twilio, worker, db):
        call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
        twilio.deliver(
            payloads.twilio_recording_status(call_sid, recording_sid), path="/webhooks/twilio/voice/recording"
        )
        assert one(WebhookEvent).state == "failed"  # no caller yet: nothing to attach it to
        twilio.deliver(payloads.twilio_call(call_sid))
        make_old(all_rows(WebhookEvent)[0], db)

        webhook_events.retry_unprocessed()
        worker.run()

        assert {e.state for e in all_rows(WebhookEvent)} == {"processed"}
        assert one(Message).recording_url == payloads.recording_url(recording_sid)


class TestReplayCommand:
    def run(self, app, *args):
        return app.test_cli_runner().invoke(args=["webhooks", "replay", *args])

    def test_replay_by_id_processes_a_failed_event(self, app, twilio, database_hiccup):
        database_hiccup["left"] = 1
        twilio.deliver(payloads.twilio_sms())
        event = one(WebhookEvent)

        result = self.run(app, "--id", str(event.id))

        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"event {event.id}: processed"
        assert one(WebhookEvent).state == "processed"
        assert count(Message) == 1

    def test_replay_failed_takes_every_failed_event_and_only_those(self, app, twilio, database_hiccup):
        database_hiccup["left"] = 2
        twilio.deliver(payloads.twilio_sms(body="a"))
        twilio.deliver(payloads.twilio_sms(body="b"))
        twilio.deliver(payloads.twilio_sms(body="c"))
        failed = [e.id for e in all_rows(WebhookEvent) if e.state == "failed"]

        result = self.run(app, "--failed")

        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == [f"event {event_id}: processed" for event_id in failed]
        assert sorted(m.body for m in all_rows(Message)) == ["a", "b", "c"]

    def test_replaying_a_processed_event_stores_nothing_twice(self, app, twilio):
        twilio.deliver(payloads.twilio_sms())
        event = one(WebhookEvent)

        for _ in range(2):
            assert self.run(app, "--id", str(event.id)).exit_code == 0

        assert count(Message) == 1

    def test_replay_without_a_choice_is_a_usage_error(self, app, db):
        result = self.run(app)

        assert result.exit_code == 2
        assert "Nothing to replay" in result.output

    def test_replay_of_an_unknown_id_is_a_usage_error(self, app, db):
        assert self.run(app, "--id", "999999999").exit_code == 2


class TestSampleCommand:
    def test_it_prints_a_curl_command_with_a_correctly_signed_inbound_sms(self, app, twilio_tenant, client, worker):
        result = app.test_cli_runner().invoke(
            args=["webhooks", "sample-twilio", "--tenant", str(twilio_tenant.id), "--body", "Hello from curl"]
        )

        assert result.exit_code == 0, result.output
        curl = shlex.split(result.output)
        url, header, data = curl[curl.index("POST") + 1], curl[curl.index("-H") + 1], curl[curl.index("--data") + 1]
        assert url == "https://api.example.test/webhooks/twilio"
        name, signature = header.split(": ", 1)
        assert name == "X-Twilio-Signature"
        response = client.post(
            "/webhooks/twilio", data=data, headers={name: signature}, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 200
        worker.run()
        message = one(Message)
        assert (message.body, message.direction, message.channel) == ("Hello from curl", "inbound", "sms")

    def test_its_signature_is_the_one_the_official_validator_expects(self, app, twilio_tenant):
        result = app.test_cli_runner().invoke(args=["webhooks", "sample-twilio", "--tenant", str(twilio_tenant.id)])

        curl = shlex.split(result.output)
        signature = curl[curl.index("-H") + 1].split(": ", 1)[1]
        params = dict(parse_qsl(curl[curl.index("--data") + 1], keep_blank_values=True))
        assert RequestValidator(payloads.AUTH_TOKEN).validate(
            "https://api.example.test/webhooks/twilio", params, signature
        )
        assert params["AccountSid"] == payloads.ACCOUNT_SID
        assert params["To"] == payloads.TWILIO_NUMBER

    def test_another_base_url_is_where_curl_posts_but_the_signature_stays_for_the_public_url(self, app, twilio_tenant):
        result = app.test_cli_runner().invoke(
            args=["webhooks", "sample-twilio", "--tenant", str(twilio_tenant.id), "--url", "http://localhost:5000"]
        )

        assert "http://localhost:5000/webhooks/twilio" in result.output

    def test_a_tenant_without_twilio_is_refused(self, app, db):
        tenant = factories.make_tenant(name="Standalone")

        result = app.test_cli_runner().invoke(args=["webhooks", "sample-twilio", "--tenant", str(tenant.id)])

        assert result.exit_code != 0
        assert "curl" not in result.output
