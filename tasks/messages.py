"""Message tasks: take ids, call one service, turn RetryLater into a Celery retry."""

from celery import shared_task

from app import jobs
from app.services import sending

# kombu's Redis transport redelivers an unacknowledged task (a retry waiting for its ETA is one)
# after `visibility_timeout` seconds, 3600 unless configured: a longer countdown would run twice.
REDIS_VISIBILITY_TIMEOUT = 3600.0


def _longer_than_the_broker_holds(task, countdown: float) -> bool:
    options = task.app.conf.broker_transport_options or {}
    return countdown >= options.get("visibility_timeout", REDIS_VISIBILITY_TIMEOUT) - 60


@shared_task(name=jobs.SEND_MESSAGE, bind=True, max_retries=None, acks_late=True)
def send_message(self, tenant_id: int, message_id: int):
    try:
        return sending.send_pending_message(tenant_id, message_id)
    except sending.RetryLater as later:
        # In-process (no broker) a retry would run at once, ignoring its countdown; a countdown
        # longer than Redis holds a task would run twice. Either way the sweeper enqueues it when due.
        if self.request.is_eager or _longer_than_the_broker_holds(self, later.countdown):
            sending.leave_to_sweeper(tenant_id, message_id)
            return "deferred"
        # If this re-publish fails (Redis down), the message is still pending: the sweeper resends it.
        raise self.retry(countdown=later.countdown) from None


@shared_task(name=jobs.CHECK_STATUS, bind=True, max_retries=5, acks_late=True)
def check_status(self, tenant_id: int, message_id: int):
    try:
        sending.check_status(tenant_id, message_id)
    except sending.RetryLater as later:
        if _longer_than_the_broker_holds(self, later.countdown):
            return None  # the poller asks again later
        raise self.retry(countdown=later.countdown) from None


@shared_task(name=jobs.SWEEP_UNSENT)
def sweep_unsent():
    return sending.sweep_unsent()


@shared_task(name=jobs.POLL_STATUSES)
def poll_statuses():
    return sending.poll_statuses()


@shared_task(name=jobs.PURGE_IDEMPOTENCY_KEYS)
def purge_idempotency_keys():
    return sending.purge_idempotency_keys()
