"""The provider ports: what the services know of Twilio, GHL and the simulator, in our own words.

Each adapter owns its provider's vocabulary (status names, error codes, ids, webhook payloads) and
translates it into the types below. Adapters know nothing of Flask requests or the database.
`MessagingProvider` sends; `ProviderDirectory` reads a provider's own contacts and history, for
the providers that keep them (GHL).
"""

from collections.abc import Callable, Iterator
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
    capability_missing: bool = False  # the provider offers no way to do this (GHL cannot place calls)

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


@dataclass(frozen=True)
class CallRequest:
    """A click-to-call: ring the staff member's own phone, and when they answer, dial the customer
    showing the business's number, so the customer never sees the staff member's."""

    staff_phone: str  # E.164
    customer_phone: str  # E.164
    reference: str  # our message id: every report about the call names it
    caller_id: str | None = None  # the business number; None: the adapter's own
    record: bool = False  # record the conversation (with the legal notice played first)


@runtime_checkable
class PlacesCalls(Protocol):
    """A provider that can place a call for us (Twilio). GHL offers no API for it."""

    def place_call(self, call: CallRequest) -> ProviderIds:
        """Start the call; ids.message names it. Raises ProviderError."""


@runtime_checkable
class TranscribesCalls(Protocol):
    """A provider that transcribes the voicemails it records and lets us ask for the words (GHL).
    Twilio tells us instead, through its transcription callback."""

    def fetch_transcript(self, provider_message_id: str) -> str | None:
        """The voicemail's words, or None while the provider has none. Raises ProviderError."""


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start` to `end` inclusive (end None: to the end of the file), as HTTP's Range says."""

    start: int
    end: int | None = None


@dataclass
class MediaStream:
    """A file a provider keeps (a photo of an MMS, a recording), read in chunks.

    `served` is the part the provider sent: the range asked for, or None when it sent the whole
    file (a provider that ignores Range); `total_length` is the whole file's size when known.
    """

    chunks: Iterator[bytes]
    content_type: str
    total_length: int | None = None
    served: ByteRange | None = None
    close: Callable[[], None] = lambda: None


@runtime_checkable
class FetchesMedia(Protocol):
    """A provider whose media and recordings need its credentials to be read (Twilio)."""

    def fetch_media(self, url: str, byte_range: ByteRange | None = None) -> MediaStream:
        """Read a file the provider named (in a webhook). ProviderError(code="not_found") when it is
        gone; a URL that is not the provider's own is refused, so credentials go nowhere else."""


def require(provider, capability: type, what: str):
    """`provider`, if it has `capability`; else ProviderError(capability_missing=True) saying `what` it cannot do."""
    if isinstance(provider, capability):
        return provider
    name = getattr(provider, "name", "This provider")
    raise ProviderError(f"{name} cannot {what}.", code="capability_missing", capability_missing=True)


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
    transcript: str | None = None  # a voicemail's words, when the provider transcribed it

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
class PlacedCallReport:
    """A provider's news about a call we placed (CallRequest), naming it by our reference.

    leg: "staff" (the staff member's phone), "customer" (the customer's, once the staff member
    answered) or "recording". status in CallOutcome's words.
    """

    reference: str
    leg: str
    call_id: str | None = None
    status: str | None = None
    duration_seconds: int | None = None
    recording_url: str | None = None


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
