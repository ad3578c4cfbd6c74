"""Webhook tasks: process one stored event; re-enqueue what was never processed."""

from celery import shared_task

from app import jobs
from app.services import webhook_events


@shared_task(name=jobs.PROCESS_WEBHOOK, acks_late=True)
def process_webhook(event_id: int):
    return webhook_events.process_event(event_id)


@shared_task(name=jobs.RETRY_WEBHOOKS)
def retry_unprocessed_webhooks():
    return webhook_events.retry_unprocessed()
