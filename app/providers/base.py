"""The provider ports: what the services know of Twilio, GHL and the simulator, in our own words.

Each adapter owns its provider's vocabulary (status names, error codes, ids, webhook payloads) and
translates it into the types below. Adapters know nothing of Flask requests or the database.
`MessagingProvider` sends; `ProviderDirectory` reads a provider's own contacts and history, for
the providers that keep them (GHL).
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

# Our delivery statuses, in the order a message moves through them. `failed` is final.
PENDING, SENT, DELIVERED, READ, FAILED = "pending", "sent", "delivered", "read", "failed"


@dataclass(frozen=True)
class ProviderIds:
    """How a provider names a message, and the contact and conversation it belongs to, on its side.

    Every provider names its messages (Twilio's SIDs); a provider that keeps contacts and threads
    of its own (GHL) names those too, and we keep them for the two-way sync.
    """

    message: str | None = None
    contact: str | None = None
    conversation: str | None = None


@dataclass(frozen=True)
class Recipient:
    """Who a message goes to, as far as a provider needs to know."""

    phone: str  # E.164
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    provider_contact_id: str | None = None  # the provider's id for this person, when we know it


@dataclass(frozen=True)
class OutboundMessage:
    channel: str  # "sms" | "whatsapp"
    recipient: Recipient
    body: str
    media_urls: tuple[str, ...] = ()
    reference: str | None = None  # our message id: it travels with the request, so late news finds the message


@dataclass(frozen=True)
class SendReceipt:
    ids: ProviderIds  # ids.message is always set
    status: str = SENT  # our vocabulary
    # Seconds after which to ask fetch_status, for a provider that sends no callbacks (the simulator).
    check_status_after: float | None = None

    @property
    def provider_message_id(self) -> str:
        return self.ids.message


class RateBudget(NamedTuple):
    """A provider's published limit (a `limits` string, "100/10 seconds") and whose calls count against it."""

    limit: str
    key: str


@dataclass(frozen=True)
class ProviderContact:
    """A contact as the provider's own directory knows them."""

    provider_contact_id: str
    phone: str | None = None  # as the provider wrote it; normalised by the service
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class StatusReport:
    status: str | None  # our vocabulary; None while the provider has nothing final to say
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class ProviderError(Exception):
    """A provider refused or failed a call, classified once, by the adapter that understood it.

    transient: the same call may succeed later (network, 5xx, 429) - retry with backoff.
    outcome_unknown: the request may have reached the provider (a timeout waiting for its answer):
    find out from the provider (`find_sent`) before sending again, or the customer gets it twice.
    Otherwise permanent: retrying cannot help (invalid number, opted out, bad credentials).
    """

    message: str
    code: str | None = None
    transient: bool = False
    rate_limited: bool = False  # the provider asked us to slow down (429): wait, without using up an attempt
    outcome_unknown: bool = False
    opted_out: bool = False  # the recipient has unsubscribed (STOP): mark the contact
    bad_credentials: bool = False  # the tenant's settings are wrong: tell the admin
    retry_after: float | None = None  # seconds, when the provider said (429 Retry-After)
    details: dict = field(default_factory=dict)
    # The provider's id for the recipient, learned before the send failed (worth keeping anyway).
    provider_contact_id: str | None = None

    def __str__(self) -> str:
        return f"{self.code or 'error'}: {self.message}"


class MessagingProvider(Protocol):
    name: str
    # The provider's limit on our calls, shared by every worker (None: unlimited).
    rate_budget: RateBudget | None

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Hand one message to the provider. Raises ProviderError."""

    def fetch_status(self, provider_message_id: str) -> StatusReport:
        """Ask the provider where a message stands. Raises ProviderError."""

    def find_sent(self, message: OutboundMessage, since: datetime) -> SendReceipt | None:
        """The provider's record of `message` if it took it (same recipient and body, created after
        `since`), or None when it has no trace of it. Raises ProviderError."""

    def verify_credentials(self) -> None:
        """Raise ProviderError(bad_credentials=True) unless the configured credentials work."""


@runtime_checkable
class ProviderDirectory(Protocol):
    """A provider's own contacts and conversation history (GHL), for webhooks that name contacts
    only by id and for the history backfill. Raises ProviderError like the sending port."""

    rate_budget: RateBudget | None

    def get_contact(self, provider_contact_id: str) -> ProviderContact | None:
        """The contact, or None when the provider does not know the id."""

    def conversations_page(self, cursor) -> "HistoryPage":
        """A page of conversations, most recent activity first: cursor None for the first page."""

    def messages_page(self, conversation: "HistoryConversation", cursor, limit: int) -> "HistoryPage":
        """A page of one conversation's messages, newest first."""


@dataclass(frozen=True)
class HistoryConversation:
    provider_conversation_id: str
    contact: ProviderContact


@dataclass(frozen=True)
class HistoryPage:
    items: list  # HistoryConversation or ProviderMessage
    next_cursor: object = None  # None: the last page


# What providers report, translated by their adapters (webhooks, history).


@dataclass(frozen=True)
class CallOutcome:
    """Where a call stands, in our words: what the call's message says is decided from this alone."""

    status: str  # ringing | in-progress | completed | busy | no-answer | failed | canceled | voicemail
    duration_seconds: int | None = None
    recording_url: str | None = None
    recording_duration_seconds: int | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_CALL_STATUSES


FINAL_CALL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled", "voicemail")


@dataclass(frozen=True)
class ProviderMessage:
    """A message a provider tells us about: a customer's, a copy of one sent from the provider's own
    app (outbound), or history imported after the fact."""

    channel: str
    ids: ProviderIds = ProviderIds()
    body: str = ""
    sender_phone: str | None = None  # the customer's number, as the provider wrote it
    attachments: tuple[dict, ...] = ()  # {"url", "content_type"}
    direction: str = "inbound"
    status: str = DELIVERED  # our vocabulary, for the message when it is new
    report: StatusReport | None = None  # an outbound copy's delivery news (with the error), for our own send
    call: CallOutcome | None = None
    occurred_at: datetime | None = None  # for history: when it happened
    history: bool = False  # imported history: stored read, at its own time, never adopted as our send
    opt_out_hint: str | None = None  # "STOP"/"START" when the provider flagged the keyword itself


@dataclass(frozen=True)
class DeliveryReport:
    """A provider's news about a message we sent."""

    provider_message_id: str
    report: StatusReport
    recipient_opted_out: bool = False  # the failure says the recipient unsubscribed (STOP)
    reference: str | None = None  # our message id, when the provider echoes it (a late report of an unanswered send)


@dataclass(frozen=True)
class OptOutChange:
    """The provider says a contact opted out of (or back into) texts."""

    provider_contact_id: str
    opted_out: bool
