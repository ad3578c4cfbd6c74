"""A webhook task takes its tenant's new events one after another (issue 14): a burst of webhooks
costs a few tasks instead of one each, and each event is still processed once."""

from app import jobs
from app.models import Message, WebhookEvent
from tests.queue import Job
from tests.webhooks import payloads
from tests.webhooks.conftest import all_rows, make_twilio_tenant


def run(app, job: Job):
    return app.extensions["celery"].tasks[job.name](*job.args)


def test_the_event_it_was_queued_for_then_the_tenants_other_new_events_each_once(twilio, twilio_tenant, queue, app):
    for n in range(3):
        twilio.post(payloads.twilio_sms(body=f"message {n}"))
    first, *others = queue.named(jobs.PROCESS_WEBHOOK)  # recorded without Redis: one task per event
    queue.clear()

    assert run(app, first) == {"processed": 3}

    assert [event.state for event in all_rows(WebhookEvent)] == ["processed"] * 3
    assert sorted(message.body for message in all_rows(Message)) == ["message 0", "message 1", "message 2"]
    # A second event meant a backlog: one more task was queued to share it (with Redis, only if none waits).
    assert queue == [Job(jobs.PROCESS_WEBHOOK, (None, twilio_tenant.id))]
    assert [run(app, job) for job in others] == [{"skipped": 1}] * 2  # their own tasks find them done
    assert run(app, queue[0]) == {}  # the successor finds nothing new
    assert len(all_rows(Message)) == 3


def test_a_task_never_takes_another_tenants_events(twilio, twilio_tenant, queue, app):
    globex_sid = "AC" + "9" * 32
    globex = make_twilio_tenant(name="Globex", account_sid=globex_sid, auth_token="globex-auth-token")
    twilio.post(payloads.twilio_sms(body="to Acme"))
    twilio.post(payloads.twilio_sms(body="to Globex", AccountSid=globex_sid), auth_token="globex-auth-token")
    acme_task, globex_task = queue.named(jobs.PROCESS_WEBHOOK)

    assert run(app, acme_task) == {"processed": 1}

    assert [(event.tenant_id, event.state) for event in all_rows(WebhookEvent)] == [
        (twilio_tenant.id, "processed"),
        (globex.id, "received"),
    ]
    assert run(app, globex_task) == {"processed": 1}


def test_an_event_the_sweeper_queues_is_processed_alone(twilio, queue, app, db):
    for n in range(2):
        twilio.post(payloads.twilio_sms(body=f"message {n}"))
    first, second = all_rows(WebhookEvent)
    queue.clear()

    assert run(app, Job(jobs.PROCESS_WEBHOOK, (second.id,))) == {"processed": 1}  # no tenant: this event only

    assert [event.state for event in all_rows(WebhookEvent)] == ["received", "processed"]
