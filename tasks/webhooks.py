"""Webhook tasks: process one stored event; re-enqueue what was never processed."""

from celery import shared_task

from app import jobs
from app.services import webhook_events
from app.services.retries import RetryLater
from tasks.retrying import retry_or_leave


@shared_task(name=jobs.PROCESS_WEBHOOK, bind=True, max_retries=None, acks_late=True)
def process_webhook(self, event_id: int):
    try:
        return webhook_events.process_event(event_id)
    except RetryLater as later:  # waiting for a provider's rate limit, not failing
        return retry_or_leave(self, later.countdown, lambda: webhook_events.leave_to_sweeper(event_id))


@shared_task(name=jobs.RETRY_WEBHOOKS)
def retry_unprocessed_webhooks():
    return webhook_events.retry_unprocessed()
