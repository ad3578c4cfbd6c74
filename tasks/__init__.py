"""Celery tasks: thin entry points that take ids and call one service."""
