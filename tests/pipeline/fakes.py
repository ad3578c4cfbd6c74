"""A scripted stand-in for a messaging provider, and the ways a real one fails.

`FakeProvider` implements the port in app/providers/base.py: each send plays the next outcome of
its script (a receipt, or an error to raise) and remembers what it was asked to send.
"""

import itertools

from app.providers.base import DELIVERED, SENT, OutboundMessage, ProviderError, ProviderIds, SendReceipt, StatusReport

_ids = itertools.count(1)


def accepted(status: str = SENT, *, contact: str | None = None, conversation: str | None = None, **fields):
    """The provider took it: a receipt with a fresh message id (and the provider's contact and thread ids)."""
    ids = ProviderIds(message=f"FAKE{next(_ids):06d}", contact=contact, conversation=conversation)
    return SendReceipt(ids=ids, status=status, **fields)


# Every kind of failure an adapter reports, classified the way the Twilio and GHL adapters do.
def network_down() -> ProviderError:
    return ProviderError("Twilio unreachable: ConnectionError", code="network", transient=True)


def timed_out() -> ProviderError:
    """No answer in time: the request may have reached the provider."""
    return ProviderError("Twilio unreachable: ReadTimeout", code="network", outcome_unknown=True)


def server_error() -> ProviderError:
    return ProviderError("Service Unavailable", code="http_503", transient=True, details={"http_status": 503})


def too_many_requests(retry_after: float | None = 30.0) -> ProviderError:
    return ProviderError(
        "Too Many Requests",
        code="20429",
        transient=True,
        rate_limited=True,
        retry_after=retry_after,
        details={"http_status": 429},
    )


def invalid_number() -> ProviderError:
    return ProviderError("The 'To' number is not a valid phone number.", code="21211", details={"http_status": 400})


def opted_out() -> ProviderError:
    return ProviderError(
        "Attempt to send to unsubscribed recipient", code="21610", opted_out=True, details={"http_status": 400}
    )


def bad_credentials() -> ProviderError:
    return ProviderError("Authenticate", code="20003", bad_credentials=True, details={"http_status": 401})


class AdapterBug(Exception):
    """What an adapter raises when it has a bug: not a ProviderError at all."""


class FakeProvider:
    """Plays its script one send at a time; once the script runs out, every send is accepted."""

    name = "fake"
    rate_budget = None

    def __init__(self, *script, reports=(), credentials_error: ProviderError | None = None):
        self.script = list(script)
        self.reports = list(reports)  # what fetch_status answers, in turn: StatusReport or ProviderError
        self.credentials_error = credentials_error
        self.sent: list[OutboundMessage] = []
        self.receipts: list[SendReceipt] = []
        self.fetched: list[str] = []
        self.taken: list[SendReceipt] = []  # what it took although we never got its answer (find_sent finds it)
        self.asked: list[OutboundMessage] = []

    def will(self, *outcomes) -> "FakeProvider":
        """Script the next sends: each outcome is a SendReceipt to return or an exception to raise."""
        self.script.extend(outcomes)
        return self

    def send(self, message: OutboundMessage) -> SendReceipt:
        self.sent.append(message)
        outcome = self.script.pop(0) if self.script else accepted()
        if isinstance(outcome, BaseException):
            raise outcome
        self.receipts.append(outcome)
        return outcome

    def fetch_status(self, provider_message_id: str) -> StatusReport:
        self.fetched.append(provider_message_id)
        outcome = self.reports.pop(0) if self.reports else StatusReport(DELIVERED)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def find_sent(self, message: OutboundMessage, since) -> SendReceipt | None:
        self.asked.append(message)
        return self.taken.pop(0) if self.taken else None

    def verify_credentials(self) -> None:
        if self.credentials_error is not None:
            raise self.credentials_error

    @property
    def sends(self) -> int:
        return len(self.sent)
