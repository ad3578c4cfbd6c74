"""Celery tasks: thin entry points that take ids and call one service. Importing registers them."""

from tasks import ghl, media, messages, push, webhooks  # noqa: F401
