"""Webhook tasks: process stored events; re-enqueue what was never processed."""

from celery import shared_task

from app import jobs
from app.services import webhook_events
from tasks.retrying import retried_when_unavailable


@shared_task(name=jobs.PROCESS_WEBHOOK, bind=True, max_retries=None, acks_late=True)
def process_webhook(self, event_id: int | None, tenant_id: int | None = None):
    """The event it was queued for; with its tenant, the tenant's other new events too."""
    # Waiting for the database is not failing (an event that must wait is queued again on its own).
    with retried_when_unavailable(self):
        return webhook_events.process_events(event_id, tenant_id)
    return "deferred"


@shared_task(name=jobs.RETRY_WEBHOOKS)
def retry_unprocessed_webhooks():
    return webhook_events.retry_unprocessed()
