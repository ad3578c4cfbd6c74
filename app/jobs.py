"""Task names, shared by app/ (which enqueues by name) and tasks/ (which registers them)."""

SEND_MESSAGE = "messages.send"
