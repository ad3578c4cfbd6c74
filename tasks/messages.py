"""Message tasks: take ids, call one service, turn RetryLater into a Celery retry."""

from celery import shared_task

from app import jobs
from app.services import delivery
from app.services.retries import RetryLater
from tasks.retrying import retry_or_leave


@shared_task(name=jobs.SEND_MESSAGE, bind=True, max_retries=None, acks_late=True)
def send_message(self, tenant_id: int, message_id: int):
    try:
        return delivery.send_pending_message(tenant_id, message_id)
    except RetryLater as later:
        return retry_or_leave(self, later.countdown, lambda: delivery.leave_to_sweeper(tenant_id, message_id))


@shared_task(name=jobs.CHECK_STATUS, bind=True, max_retries=5, acks_late=True)
def check_status(self, tenant_id: int, message_id: int):
    try:
        delivery.check_status(tenant_id, message_id)
    except RetryLater as later:
        return retry_or_leave(self, later.countdown, lambda: None)  # the poller asks again later


@shared_task(name=jobs.SWEEP_UNSENT)
def sweep_unsent():
    return delivery.sweep_unsent()


@shared_task(name=jobs.POLL_STATUSES)
def poll_statuses():
    return delivery.poll_statuses()


@shared_task(name=jobs.PURGE_IDEMPOTENCY_KEYS)
def purge_idempotency_keys():
    return delivery.purge_idempotency_keys()
