"""Task names and their queues, shared by app/ (which enqueues by name) and tasks/ (which registers them).

Each kind of work has a queue of its own, so a long GHL backfill or a burst of webhooks cannot hold
the workers a customer's text needs. The Procfile's worker consumes them all; a deployment that
wants to split them runs workers with `-Q` (see the README).
"""

SENDS, WEBHOOKS, STATUS, SYNC, PERIODIC = "sends", "webhooks", "status", "sync", "periodic"
PUSH = "push"  # notifications to phones: a slow APNs or FCM never holds a worker a send needs
QUEUES = (SENDS, WEBHOOKS, STATUS, SYNC, PERIODIC, PUSH)

SEND_MESSAGE = "messages.send"
CHECK_STATUS = "messages.check_status"
CHECK_STATUSES = "messages.check_statuses"  # a send task's batch of checks, in one task
RECONCILE_SEND = "messages.reconcile"
SWEEP_UNSENT = "messages.sweep_unsent"
POLL_STATUSES = "messages.poll_statuses"
PURGE_IDEMPOTENCY_KEYS = "messages.purge_idempotency_keys"
PROCESS_WEBHOOK = "webhooks.process"
RETRY_WEBHOOKS = "webhooks.retry_unprocessed"
SYNC_GHL = "ghl.sync"
PUSH_INBOUND = "push.inbound"
PUSH_SEND = "push.send"
PUSH_BADGE = "push.badge"
COPY_INBOUND_MEDIA = "media.copy_inbound"
FETCH_TRANSCRIPT = "calls.fetch_transcript"
SWEEP_TRANSCRIPTS = "calls.sweep_transcripts"
SWEEP_INBOUND_MEDIA = "media.sweep_inbound"
PURGE_UPLOADS = "media.purge_unattached_uploads"

# Every task, with its queue.
QUEUE_OF = {
    SEND_MESSAGE: SENDS,
    CHECK_STATUS: STATUS,
    CHECK_STATUSES: STATUS,
    RECONCILE_SEND: SENDS,
    SWEEP_UNSENT: PERIODIC,
    POLL_STATUSES: PERIODIC,
    PURGE_IDEMPOTENCY_KEYS: PERIODIC,
    PROCESS_WEBHOOK: WEBHOOKS,
    RETRY_WEBHOOKS: PERIODIC,
    SYNC_GHL: SYNC,
    PUSH_INBOUND: PUSH,
    PUSH_SEND: PUSH,
    PUSH_BADGE: PUSH,
    COPY_INBOUND_MEDIA: WEBHOOKS,
    SWEEP_INBOUND_MEDIA: PERIODIC,
    FETCH_TRANSCRIPT: STATUS,
    SWEEP_TRANSCRIPTS: PERIODIC,
    PURGE_UPLOADS: PERIODIC,
}

# Beat's jobs: name -> seconds between runs.
PERIODIC_JOBS = {
    SWEEP_UNSENT: 15.0,
    POLL_STATUSES: 60.0,
    PURGE_IDEMPOTENCY_KEYS: 3600.0,
    RETRY_WEBHOOKS: 30.0,
    SWEEP_INBOUND_MEDIA: 30.0,
    SWEEP_TRANSCRIPTS: 60.0,
    PURGE_UPLOADS: 3600.0,
}
