"""The worker half of a send: claim the pending message, call the provider, record what happened."""

import logging
from datetime import timedelta

import pytest
import redis
from cryptography.fernet import Fernet

from app import jobs
from app.extensions import db
from app.models import Contact
from app.models.base import utcnow
from app.providers.base import DELIVERED, PENDING, DeliveryReport, ProviderError, StatusReport
from app.services import delivery
from app.services.delivery import send_pending_message
from app.services.delivery_status import StatusBeforeSend, apply_delivery_report
from app.services.retries import RetryLater
from tests import factories
from tests.pipeline.fakes import (
    AdapterBug,
    accepted,
    bad_credentials,
    invalid_number,
    network_down,
    opted_out,
    server_error,
    timed_out,
    too_many_requests,
)
from tests.pipeline.helpers import backdate, backoff_over, reload
from tests.queue import Job

# Each kind of failure, and the error code the message keeps from it.
TRANSIENT = {
    "network down": (network_down, "network"),
    "provider 5xx": (server_error, "http_503"),
    "adapter bug": (lambda: AdapterBug("KeyError: 'sid'"), "internal"),
}
PERMANENT = {
    "invalid number": invalid_number,
    "recipient opted out": opted_out,
    "bad credentials": bad_credentials,
}


def send(message) -> str:
    """One run of the send task for `message`, as a worker would run it."""
    return send_pending_message(message.tenant_id, message.id)


def attempt_until_done(message, limit: int = 50) -> list:
    """Run the send task, and its retries once each backoff is over, until it ends; returns each run's outcome."""
    outcomes = []
    for _ in range(limit):
        try:
            outcomes.append(send(message))
            return outcomes
        except RetryLater as later:
            outcomes.append(later)
            backoff_over(message)
    raise AssertionError(f"still retrying after {limit} runs")


class TestASuccessfulSend:
    def test_the_provider_gets_the_message_and_it_is_recorded_sent(self, compose, provider, john):
        message = compose("Your table is ready")

        assert send(message) == "sent"

        stored = reload(message)
        assert stored.delivery_status == "sent"
        assert stored.provider_message_id == provider.receipts[0].provider_message_id
        assert stored.sent_at is not None
        assert stored.send_attempts == 1
        [outbound] = provider.sent
        assert outbound.body == "Your table is ready"
        assert outbound.channel == "sms"
        assert (outbound.recipient.phone, outbound.recipient.first_name) == (john.phone, "John")
        assert outbound.reference == str(message.id)

    def test_mms_media_urls_reach_the_provider_in_order(self, compose, provider):
        urls = [f"https://cdn.example.test/photo-{i}.jpg" for i in range(10)]
        message = compose("Photos", media_urls=urls)

        send(message)

        assert provider.sent[0].media_urls == tuple(urls)

    def test_a_provider_without_callbacks_gets_its_status_checked_later(self, compose, provider, queue):
        provider.will(accepted(check_status_after=2.0))
        message = compose()

        send(message)

        assert queue.named(jobs.CHECK_STATUS) == [Job(jobs.CHECK_STATUS, (message.tenant_id, message.id), 2.0)]

    def test_a_provider_that_says_delivered_at_once_is_believed(self, compose, provider):
        provider.will(accepted(status="delivered"))
        message = compose()

        send(message)

        assert reload(message).delivery_status == "delivered"


def contact_now(contact: Contact) -> Contact:
    db.session.expire_all()
    return db.session.get(Contact, contact.id)


class TestRememberingTheGhlContact:
    def test_ghls_message_and_conversation_ids_are_kept_for_the_sync(self, compose, provider, conversation):
        receipt = accepted(conversation="ghl-conv")
        provider.will(receipt)
        message = compose()

        send(message)

        assert reload(message).ghl_message_id == receipt.ids.message
        db.session.expire_all()
        assert db.session.get(type(conversation), conversation.id).ghl_conversation_id == "ghl-conv"

    def test_the_id_ghl_answers_with_is_kept_on_our_contact(self, compose, provider, john):
        provider.will(accepted(contact="ghl-john"))

        send(compose())

        assert contact_now(john).ghl_contact_id == "ghl-john"

    def test_an_id_another_contact_already_holds_never_fails_the_send(self, compose, provider, tenant, john):
        twin = factories.make_contact(tenant=tenant, phone=None, first_name=None, ghl_contact_id="ghl-john")
        provider.will(accepted(contact="ghl-john"))
        message = compose()

        assert send(message) == "sent"

        assert reload(message).delivery_status == "sent"
        assert (contact_now(john).ghl_contact_id, contact_now(twin).ghl_contact_id) == (None, "ghl-john")

    def test_the_id_of_a_contact_upserted_before_a_refused_send_is_kept_too(self, compose, provider, john):
        provider.will(ProviderError("Bad Request", code="http_400", provider_contact_id="ghl-john"))

        assert send(compose()) == "failed"

        assert contact_now(john).ghl_contact_id == "ghl-john"


class TestSendingIsIdempotent:
    """Late acks deliver a task again after a worker dies: a second run must never text twice."""

    def test_a_message_already_sent_is_skipped(self, compose, provider):
        message = compose()
        send(message)

        assert send(message) == "skipped"
        assert provider.sends == 1

    def test_a_message_another_worker_has_claimed_is_skipped(self, compose, provider):
        message = compose()
        backdate(message, claimed_at=timedelta(seconds=1))

        assert send(message) == "skipped"
        assert provider.sends == 0

    def test_a_failed_message_is_never_sent_again(self, compose, provider):
        provider.will(invalid_number())
        message = compose()
        send(message)

        assert send(message) == "skipped"
        assert provider.sends == 1

    def test_a_task_naming_another_tenant_sends_nothing(self, compose, provider):
        message = compose()
        stranger = factories.make_tenant(name="Globex", sms_provider="simulator")

        assert send_pending_message(stranger.id, message.id) == "skipped"
        assert provider.sends == 0
        assert reload(message).delivery_status == PENDING

    def test_a_copy_of_the_task_that_arrives_during_the_backoff_does_not_send_early(self, compose, provider):
        provider.will(too_many_requests(retry_after=120))
        message = compose()
        with pytest.raises(RetryLater):
            send(message)

        assert send(message) == "skipped"  # e.g. the sweeper's copy, or a redelivery
        assert provider.sends == 1
        backoff_over(message)
        assert send(message) == "sent"


class TestRetryClassification:
    @pytest.mark.parametrize(("failure", "code"), TRANSIENT.values(), ids=TRANSIENT.keys())
    def test_a_transient_failure_leaves_the_message_pending_for_a_retry_after_a_backoff(
        self, compose, provider, failure, code
    ):
        provider.will(failure())
        message = compose()

        with pytest.raises(RetryLater) as later:
            send(message)

        stored = reload(message)
        assert stored.delivery_status == PENDING
        assert stored.claimed_at is None  # the retry (or the sweeper) can claim it again
        assert stored.send_attempts == 1
        assert stored.error_code == code  # the last error, for support
        assert 2.5 <= later.value.countdown <= 5  # the first backoff: 5 s, half of it jitter
        assert stored.next_attempt_at > utcnow() + timedelta(seconds=2)

    @pytest.mark.parametrize(("failure", "code"), TRANSIENT.values(), ids=TRANSIENT.keys())
    def test_a_transient_failure_that_clears_up_ends_sent(self, compose, provider, failure, code):
        provider.will(failure(), failure())
        message = compose()

        outcomes = attempt_until_done(message)

        assert outcomes[-1] == "sent"
        assert provider.sends == 3
        stored = reload(message)
        assert (stored.delivery_status, stored.send_attempts) == ("sent", 3)
        assert (stored.error_code, stored.error_message) == (None, None)

    @pytest.mark.parametrize(("failure", "code"), TRANSIENT.values(), ids=TRANSIENT.keys())
    def test_transient_failures_are_retried_up_to_the_bound_then_the_message_fails(
        self, app, compose, provider, failure, code, monkeypatch
    ):
        monkeypatch.setitem(app.config, "SEND_MAX_ATTEMPTS", 4)
        provider.will(*(failure() for _ in range(10)))
        message = compose()

        outcomes = attempt_until_done(message)

        assert [type(outcome) for outcome in outcomes] == [RetryLater, RetryLater, RetryLater, str]
        assert outcomes[-1] == "failed"
        assert provider.sends == 4
        stored = reload(message)
        assert stored.delivery_status == "failed"
        assert stored.error_code == code

    @pytest.mark.parametrize("failure", PERMANENT.values(), ids=PERMANENT.keys())
    def test_a_permanent_failure_fails_the_message_at_once_with_the_providers_reason(
        self, compose, provider, failure, queue
    ):
        provider.will(failure())
        message = compose()

        assert send(message) == "failed"

        assert provider.sends == 1
        stored = reload(message)
        assert stored.delivery_status == "failed"
        assert (stored.error_code, stored.error_message) == (failure().code, failure().message)
        assert queue.names() == [jobs.SEND_MESSAGE]  # the API's enqueue, and nothing since

    def test_an_adapter_bug_is_recorded_without_its_text(self, app, compose, provider, monkeypatch):
        monkeypatch.setitem(app.config, "SEND_MAX_ATTEMPTS", 1)
        provider.will(AdapterBug("token=abc123 in a URL"))
        message = compose()

        send(message)

        stored = reload(message)
        assert (stored.error_code, stored.error_message) == ("internal", "AdapterBug")


class TestRateLimitedByTheProvider:
    def test_a_429_waits_at_least_as_long_as_the_provider_asks(self, compose, provider):
        provider.will(too_many_requests(retry_after=120))
        message = compose()

        with pytest.raises(RetryLater) as later:
            send(message)

        assert later.value.countdown >= 120
        stored = reload(message)
        assert (stored.delivery_status, stored.claimed_at) == (PENDING, None)
        assert stored.send_attempts == 0  # waiting for the provider is not a failed attempt

    @pytest.mark.parametrize("retry_after", [30.0, None], ids=["with Retry-After", "without Retry-After"])
    def test_a_429_never_fails_the_message_however_often_it_comes(
        self, app, compose, provider, monkeypatch, retry_after
    ):
        monkeypatch.setitem(app.config, "SEND_MAX_ATTEMPTS", 3)
        provider.will(*(too_many_requests(retry_after=retry_after) for _ in range(8)))
        message = compose()

        outcomes = attempt_until_done(message)

        assert outcomes[-1] == "sent"
        assert provider.sends == 9
        assert reload(message).send_attempts == 1

    def test_a_429_after_other_failures_still_does_not_use_up_the_attempts(self, app, compose, provider, monkeypatch):
        monkeypatch.setitem(app.config, "SEND_MAX_ATTEMPTS", 2)
        provider.will(network_down(), too_many_requests(), too_many_requests())
        message = compose()

        assert attempt_until_done(message)[-1] == "sent"


class TestWhatAFailureTellsUs:
    def test_a_recipient_who_replied_stop_is_marked_opted_out(self, compose, provider, john):
        provider.will(opted_out())
        message = compose()

        send(message)

        assert reload(message).error_code == "21610"
        assert db.session.get(Contact, john.id).sms_opted_out

    def test_and_the_next_send_to_them_is_refused_before_it_is_stored(self, compose, provider, api, conversation):
        provider.will(opted_out())
        send(compose())

        response = api.post(f"/api/v1/conversations/{conversation.id}/messages", json={"message": "Still there?"})

        assert response.status_code == 422
        assert response.json["error"]["code"] == "opted_out"

    def test_a_contact_who_replied_stop_after_the_message_was_queued_is_not_texted(self, compose, provider, john):
        message = compose()
        john.sms_opted_out_at = utcnow()  # their STOP arrived while the message waited for a worker
        db.session.commit()

        assert send(message) == "failed"

        assert provider.sends == 0
        assert reload(message).error_code == "opted_out"

    def test_bad_credentials_are_reported_for_the_admin(self, compose, provider, caplog, tenant):
        provider.will(bad_credentials())
        message = compose()

        with caplog.at_level(logging.WARNING, logger="app.services.delivery"):
            send(message)

        [warning] = [record for record in caplog.records if record.getMessage() == "provider.bad-credentials"]
        assert warning.tenant_id == tenant.id

    def test_a_tenant_without_a_provider_fails_the_message_with_that_reason(self, compose, tenant):
        message = compose()
        tenant.sms_provider = None  # the admin switched the provider off after the message was stored
        db.session.commit()

        assert send(message) == "failed"

        stored = reload(message)
        assert (stored.delivery_status, stored.error_code) == ("failed", "provider_not_configured")

    def test_a_secret_no_configured_key_can_read_fails_the_message_with_that_reason(self, compose, tenant):
        message = compose()
        retired_key = Fernet(Fernet.generate_key())  # e.g. dropped from ENCRYPTION_KEYS before `secrets rotate`
        tenant.sms_provider, tenant.twilio_phone_number = "twilio", "+15550001111"
        tenant.twilio_account_sid_encrypted = retired_key.encrypt(b"AC-the-account-sid").decode()
        tenant.twilio_auth_token_encrypted = retired_key.encrypt(b"the-auth-token").decode()
        db.session.commit()

        assert send(message) == "failed"

        stored = reload(message)
        assert (stored.delivery_status, stored.error_code) == ("failed", "provider_not_configured")
        assert "cannot be decrypted" in stored.error_message
        assert "the-auth-token" not in stored.error_message


def redis_is_down(budget):
    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


class TestAFailureBeforeTheProviderIsCalled:
    """Redis (the rate limiter's store) or anything else failing before the send must not strand the message."""

    def test_the_message_is_released_for_the_sweeper_and_keeps_its_attempts(self, compose, provider, monkeypatch):
        monkeypatch.setattr(delivery, "wait_for_slot", redis_is_down)
        message = compose()

        with pytest.raises(redis.ConnectionError):
            send(message)

        stored = reload(message)
        assert (stored.delivery_status, stored.claimed_at, stored.send_attempts) == (PENDING, None, 0)
        assert provider.sends == 0

    def test_once_redis_is_back_the_sweeper_gets_it_sent_exactly_once(self, compose, provider, monkeypatch, queue):
        monkeypatch.setattr(delivery, "wait_for_slot", redis_is_down)
        message = compose()
        with pytest.raises(redis.ConnectionError):
            send(message)
        monkeypatch.setattr(delivery, "wait_for_slot", lambda budget: 0.0)
        backdate(message, inserted_at=timedelta(minutes=5), next_attempt_at=timedelta(minutes=5))

        delivery.sweep_unsent()
        for job in queue.named(jobs.SEND_MESSAGE):
            send_pending_message(*job.args)  # the API's lost enqueue and the sweeper's, both delivered

        assert provider.sends == 1
        assert reload(message).delivery_status == "sent"


class TestBackoff:
    def test_it_doubles_from_the_base_with_up_to_half_of_it_random(self, app):
        with app.app_context():
            for attempt, ceiling in [(1, 5), (2, 10), (3, 20), (4, 30), (5, 30)]:
                delays = [delivery.backoff_seconds(attempt) for _ in range(200)]
                assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
                assert len(set(delays)) > 100  # jitter: retries of many messages do not arrive together

    def test_it_is_capped_so_a_recovered_provider_gets_the_message_within_half_a_minute(self, app):
        with app.app_context():
            assert max(delivery.backoff_seconds(attempt) for attempt in range(1, 60)) <= 30

    def test_every_attempt_together_still_outlasts_a_provider_outage_of_over_a_minute(self, app):
        with app.app_context():
            waits = range(1, app.config["SEND_MAX_ATTEMPTS"])  # the waits between the attempts
            assert min(sum(delivery.backoff_seconds(attempt) for attempt in waits) for _ in range(200)) > 75


class TestASendWhoseAnswerNeverCame:
    """A timeout after the request left: the provider may have the message. Find out, never guess (issue 10)."""

    def test_it_is_not_sent_again_but_kept_claimed_and_reconciled_a_little_later(self, compose, provider, queue):
        provider.will(timed_out())
        message = compose()

        assert send(message) == "unconfirmed"

        stored = reload(message)
        assert (stored.delivery_status, stored.send_attempts) == (PENDING, 1)
        assert stored.claimed_at is not None  # nobody else may send it meanwhile
        assert queue.named(jobs.RECONCILE_SEND) == [Job(jobs.RECONCILE_SEND, (message.tenant_id, message.id), 30)]
        assert delivery.sweep_unsent() == 0 and provider.sends == 1

    def test_what_the_provider_took_is_adopted_and_never_sent_twice(self, compose, provider, queue):
        provider.will(timed_out())
        message = compose()
        send(message)
        took = accepted()
        provider.taken.append(took)

        assert delivery.reconcile_send(message.tenant_id, message.id) == "adopted"

        stored = reload(message)
        assert (stored.delivery_status, stored.provider_message_id) == ("sent", took.provider_message_id)
        assert provider.sends == 1 and provider.asked[0].body == message.body
        assert queue.named(jobs.SEND_MESSAGE) == [Job(jobs.SEND_MESSAGE, (message.tenant_id, message.id))]  # the API's

    def test_only_when_the_provider_has_no_trace_is_it_sent_again(self, compose, provider, queue):
        provider.will(timed_out())
        message = compose()
        send(message)
        queue.clear()

        assert delivery.reconcile_send(message.tenant_id, message.id) == "resent"
        assert queue.names() == [jobs.SEND_MESSAGE]
        assert send(message) == "sent"

        stored = reload(message)
        assert (stored.delivery_status, stored.send_attempts) == ("sent", 2)
        assert provider.sends == 2

    def test_a_report_that_arrived_first_settles_it(self, compose, provider, queue):
        provider.will(timed_out())
        message = compose()
        send(message)
        apply_delivery_report(
            message.tenant_id, DeliveryReport("SMlate", StatusReport(DELIVERED), reference=str(message.id))
        )

        assert delivery.reconcile_send(message.tenant_id, message.id) == "settled"

        stored = reload(message)
        assert (stored.delivery_status, stored.provider_message_id, stored.error_code) == (DELIVERED, "SMlate", None)
        assert provider.asked == [] and provider.sends == 1

    def test_a_worker_that_died_mid_send_leaves_it_to_be_reconciled_not_failed(self, compose, provider, queue):
        message = compose()
        queue.clear()
        backdate(
            message,
            inserted_at=timedelta(minutes=10),
            enqueued_at=timedelta(minutes=10),
            claimed_at=timedelta(seconds=61),
        )

        delivery.sweep_unsent()

        assert queue == [Job(jobs.RECONCILE_SEND, (message.tenant_id, message.id))]
        assert reload(message).delivery_status == PENDING

    def test_a_report_naming_another_tenants_message_adopts_nothing(self, compose, provider, queue):
        provider.will(timed_out())
        message = compose()
        send(message)
        stranger = factories.make_tenant(name="Globex")

        with pytest.raises(StatusBeforeSend):
            apply_delivery_report(
                stranger.id, DeliveryReport("SMx", StatusReport(DELIVERED), reference=str(message.id))
            )
        assert reload(message).provider_message_id is None
