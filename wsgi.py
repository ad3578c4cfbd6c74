"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import sys

from app import create_app
from app.startup import UnsafeConfiguration

try:
    app = create_app()
except UnsafeConfiguration as exc:
    sys.exit(str(exc))  # the message, not a traceback: gunicorn, flask and the release phase all stop here

# Registered here too so that, without a broker (development), tasks can run in-process.
import tasks  # noqa: E402,F401
