"""How a request fails when it never reaches the provider, as `requests` reports it."""

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError


def refused() -> requests.ConnectionError:
    """Connection refused: nothing was sent."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/", reason))
