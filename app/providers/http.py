"""What the HTTP adapters share: telling a request that never left from one that may have arrived."""

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError


def request_may_have_arrived(exc: requests.RequestException) -> bool:
    """Whether a failed request may still have reached the provider: only a failure to connect
    (refused, DNS, connect timeout) proves it did not."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        cause = exc.args[0] if exc.args else None
        reason = getattr(cause, "reason", cause)
        return not isinstance(reason, NewConnectionError | ConnectTimeoutError | NameResolutionError)
    return True  # a read timeout, a connection dropped mid-answer, an unreadable answer
