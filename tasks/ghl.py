"""GHL backfill task: resumable, so a retry continues where the last run stopped."""

from celery import shared_task

from app import jobs
from app.providers.base import ProviderError
from app.services import ghl_sync
from tasks.retrying import retried_when_unavailable


@shared_task(name=jobs.SYNC_GHL, bind=True, max_retries=None, acks_late=True)
def sync_ghl(self, tenant_id: int, max_conversations: int = 200):
    try:
        with retried_when_unavailable(self):  # GHL's budget is spent for now: come back for the rest, no sleeping
            return ghl_sync.sync_tenant(tenant_id, max_conversations=max_conversations)
        return "deferred"
    except ProviderError as error:
        if error.transient and self.request.retries < 5:
            raise self.retry(countdown=error.retry_after or 60) from None
        raise
