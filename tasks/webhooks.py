"""Webhook tasks: process one stored event; re-enqueue what was never processed."""

from celery import shared_task

from app import jobs
from app.services import webhook_events
from tasks.retrying import retried_when_unavailable


@shared_task(name=jobs.PROCESS_WEBHOOK, bind=True, max_retries=None, acks_late=True)
def process_webhook(self, event_id: int):
    # Waiting for a provider's rate limit, or for the database, is not failing.
    with retried_when_unavailable(self, lambda: webhook_events.leave_to_sweeper(event_id)):
        return webhook_events.process_event(event_id)
    return "deferred"


@shared_task(name=jobs.RETRY_WEBHOOKS)
def retry_unprocessed_webhooks():
    return webhook_events.retry_unprocessed()
