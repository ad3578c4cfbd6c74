"""Media tasks: copy an inbound message's media into our storage; find the ones still to copy."""

from celery import shared_task

from app import jobs
from app.services import media_copies


@shared_task(name=jobs.COPY_INBOUND_MEDIA, acks_late=True)
def copy_inbound_media(tenant_id: int, message_id: int):
    return media_copies.copy_inbound_media(tenant_id, message_id)


@shared_task(name=jobs.SWEEP_INBOUND_MEDIA)
def sweep_inbound_media():
    return media_copies.sweep_inbound_media()
