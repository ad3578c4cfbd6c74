"""Task names, shared by app/ (which enqueues by name) and tasks/ (which registers them)."""

SEND_MESSAGE = "messages.send"
CHECK_STATUS = "messages.check_status"
SWEEP_UNSENT = "messages.sweep_unsent"
POLL_STATUSES = "messages.poll_statuses"
PURGE_IDEMPOTENCY_KEYS = "messages.purge_idempotency_keys"
PROCESS_WEBHOOK = "webhooks.process"
RETRY_WEBHOOKS = "webhooks.retry_unprocessed"
SYNC_GHL = "ghl.sync"

# Push notifications, on their own queue (config's task_routes sends every "push.*" task there).
PUSH_QUEUE = "push"
PUSH_INBOUND = "push.inbound"
PUSH_SEND = "push.send"
PUSH_BADGE = "push.badge"
