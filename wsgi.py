"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from app import create_app

app = create_app()

# Registered here too so that, without a broker (development), tasks can run in-process.
import tasks  # noqa: E402,F401
