"""Celery wired to the Flask app, as Flask's own docs show, and the app's one door to it."""

import logging

from celery import Celery, Task
from flask import Flask, current_app

log = logging.getLogger(__name__)


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        # Each task runs in its own app context, and leaves no session behind.
        def __call__(self, *args, **kwargs):
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    from app.extensions import db

                    db.session.remove()

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def enqueue(task_name: str, *args) -> bool:
    """Send a task by name (ids only, never ORM objects or secrets). Call it after the commit.

    Returns False instead of raising when the broker is unreachable: the caller's row is already
    committed, and the sweeper task picks up whatever was not enqueued.
    """
    celery_app: Celery = current_app.extensions["celery"]
    try:
        celery_app.send_task(task_name, args=args)
        return True
    except Exception:  # kombu raises several unrelated types for an unreachable broker
        log.warning("celery.enqueue-failed", extra={"task": task_name})
        return False
