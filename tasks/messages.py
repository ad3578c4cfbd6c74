"""Message tasks: take ids, call one service, turn RetryLater into a Celery retry."""

from celery import shared_task

from app import jobs
from app.services import sending


@shared_task(name=jobs.SEND_MESSAGE, bind=True, max_retries=None, acks_late=True)
def send_message(self, tenant_id: int, message_id: int):
    try:
        return sending.send_pending_message(tenant_id, message_id)
    except sending.RetryLater as later:
        # If this re-publish fails (Redis down), the message is still pending: the sweeper resends it.
        raise self.retry(countdown=later.countdown) from None


@shared_task(name=jobs.CHECK_STATUS, bind=True, max_retries=5, acks_late=True)
def check_status(self, tenant_id: int, message_id: int):
    try:
        sending.check_status(tenant_id, message_id)
    except sending.RetryLater as later:
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
