"""Push tasks, on the "push" queue (config's task_routes): a slow push backend never delays a send."""

from celery import shared_task

from app import jobs
from app.services import notifications


@shared_task(name=jobs.PUSH_INBOUND)
def push_inbound(tenant_id: int, conversation_id: int):
    """The end of a burst of customer messages in one conversation: one alert per user told."""
    return notifications.push_inbound(tenant_id, conversation_id)


@shared_task(name=jobs.PUSH_SEND)
def push_send(tenant_id, user_id, kind, conversation_id, message_id, device_ids=None, attempt=0):
    """One notification to one user's devices; failures that can succeed later are re-enqueued with backoff."""
    return notifications.push_to_user(tenant_id, user_id, kind, conversation_id, message_id, device_ids, attempt)


@shared_task(name=jobs.PUSH_BADGE)
def push_badge(tenant_id: int, conversation_id: int):
    """Messages were read: silent badge updates."""
    return notifications.push_badges(tenant_id, conversation_id)
