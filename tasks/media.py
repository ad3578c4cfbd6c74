"""Media tasks: inbound media copied into our storage, uploads never sent deleted, voicemail transcripts
fetched from the provider."""

from celery import shared_task

from app import jobs
from app.services import media_copies, transcripts, uploads


@shared_task(name=jobs.COPY_INBOUND_MEDIA, acks_late=True)
def copy_inbound_media(tenant_id: int, message_id: int):
    return media_copies.copy_inbound_media(tenant_id, message_id)


@shared_task(name=jobs.SWEEP_INBOUND_MEDIA)
def sweep_inbound_media():
    return media_copies.sweep_inbound_media()


@shared_task(name=jobs.PURGE_UPLOADS)
def purge_unattached_uploads():
    return uploads.purge_unattached()


@shared_task(name=jobs.FETCH_TRANSCRIPT, acks_late=True)
def fetch_transcript(tenant_id: int, message_id: int):
    return transcripts.fetch_transcript(tenant_id, message_id)


@shared_task(name=jobs.SWEEP_TRANSCRIPTS)
def sweep_transcripts():
    return transcripts.sweep_transcripts()
