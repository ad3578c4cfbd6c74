"""The messaging-provider port: what the services know of Twilio, GHL and the simulator.

Each adapter owns its provider's vocabulary (status names, error codes) and translates it into
the types below. Adapters know nothing of Flask requests or the database.
"""

from dataclasses import dataclass, field
from typing import Protocol

# Our delivery statuses, in the order a message moves through them. `failed` is final.
PENDING, SENT, DELIVERED, READ, FAILED = "pending", "sent", "delivered", "read", "failed"


@dataclass(frozen=True)
class Recipient:
    """Who a message goes to, as far as a provider needs to know."""

    phone: str  # E.164
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    ghl_contact_id: str | None = None


@dataclass(frozen=True)
class OutboundMessage:
    channel: str  # "sms" | "whatsapp"
    recipient: Recipient
    body: str
    media_urls: tuple[str, ...] = ()
    status_callback_url: str | None = None  # where the provider reports delivery (Twilio)
    reference: str | None = None  # our message id, for the provider's logs


@dataclass(frozen=True)
class SendReceipt:
    provider_message_id: str
    status: str = SENT  # our vocabulary
    # GHL's own ids, kept on our rows for the two-way sync (only the GHL adapter sets them).
    ghl_message_id: str | None = None
    ghl_contact_id: str | None = None
    ghl_conversation_id: str | None = None
    # Seconds after which to ask fetch_status, for a provider that sends no callbacks (the simulator).
    check_status_after: float | None = None


@dataclass(frozen=True)
class StatusReport:
    status: str | None  # our vocabulary; None while the provider has nothing final to say
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class ProviderError(Exception):
    """A provider refused or failed a call, classified once, by the adapter that understood it.

    transient: the same call may succeed later (network, timeout, 5xx, 429) - retry with backoff.
    Otherwise permanent: retrying cannot help (invalid number, opted out, bad credentials).
    """

    message: str
    code: str | None = None
    transient: bool = False
    rate_limited: bool = False  # the provider asked us to slow down (429): wait, without using up an attempt
    opted_out: bool = False  # the recipient has unsubscribed (STOP): mark the contact
    bad_credentials: bool = False  # the tenant's settings are wrong: tell the admin
    retry_after: float | None = None  # seconds, when the provider said (429 Retry-After)
    details: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code or 'error'}: {self.message}"


class MessagingProvider(Protocol):
    name: str

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Hand one message to the provider. Raises ProviderError."""

    def fetch_status(self, provider_message_id: str) -> StatusReport:
        """Ask the provider where a message stands. Raises ProviderError."""

    def verify_credentials(self) -> None:
        """Raise ProviderError(bad_credentials=True) unless the configured credentials work."""
