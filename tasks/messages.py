"""Message tasks: take ids, call one service; RetryLater and a briefly absent database become retries."""

from celery import shared_task

from app import jobs
from app.services import delivery
from tasks.retrying import retried_when_unavailable


@shared_task(name=jobs.SEND_MESSAGE, bind=True, max_retries=None, acks_late=True)
def send_message(self, tenant_id: int, message_id: int | None = None):
    """The message it was queued for, then whatever else its tenant has due (each message's own
    retries are queued by the service, so only a database that is away retries the task)."""
    with retried_when_unavailable(self):
        return delivery.send_due_messages(tenant_id, message_id)
    return "deferred"


@shared_task(name=jobs.RECONCILE_SEND, bind=True, max_retries=None, acks_late=True)
def reconcile_send(self, tenant_id: int, message_id: int):
    with retried_when_unavailable(self):  # if even this retry is lost, the sweeper asks again
        return delivery.reconcile_send(tenant_id, message_id)
    return "deferred"


@shared_task(name=jobs.CHECK_STATUS, bind=True, max_retries=5, acks_late=True)
def check_status(self, tenant_id: int, message_id: int):
    with retried_when_unavailable(self):  # the poller asks again later
        delivery.check_status(tenant_id, message_id)


@shared_task(name=jobs.CHECK_STATUSES, bind=True, max_retries=5, acks_late=True)
def check_statuses(self, tenant_id: int, message_ids: list[int]):
    with retried_when_unavailable(self):  # the poller asks again later
        delivery.check_statuses(tenant_id, message_ids)


@shared_task(name=jobs.SWEEP_UNSENT)
def sweep_unsent():
    return delivery.sweep_unsent()


@shared_task(name=jobs.POLL_STATUSES)
def poll_statuses():
    return delivery.poll_statuses()


@shared_task(name=jobs.PURGE_IDEMPOTENCY_KEYS)
def purge_idempotency_keys():
    return delivery.purge_idempotency_keys()
