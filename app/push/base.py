"""The push port: what a notification says, where it goes, and how a backend answers.

The services build a `Notification` from ids; a backend (APNs, FCM) turns it into its own wire
format and classifies its answer once, into an `Outcome` the services act on.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    SENT = "sent"
    UNREGISTERED = "unregistered"  # the token is dead (uninstalled, or never valid): forget the device
    RETRY = "retry"  # throttled, or the service had a problem: try again later
    FAILED = "failed"  # refused for another reason (logged with the service's reason); not retried
    SKIPPED = "skipped"  # no credentials configured for this platform


@dataclass(frozen=True)
class PushResult:
    outcome: Outcome
    status: int | None = None
    reason: str | None = None  # the service's own reason ("BadDeviceToken", "UNREGISTERED"...)
    retry_after: float | None = None


@dataclass(frozen=True)
class Target:
    """A device as a backend needs it (no ORM row crosses the port)."""

    token: str
    environment: str | None = None  # APNs: "sandbox" | "production"
    app_id: str | None = None  # iOS bundle id


@dataclass(frozen=True)
class Notification:
    """What a phone shows. `silent` ones only update the badge (a background push)."""

    kind: str  # "inbound" | "assigned" | "badge" | "test"
    badge: int
    title: str | None = None
    body: str | None = None
    conversation_id: int | None = None
    channel: str | None = None
    message_id: int | None = None
    data: dict = field(default_factory=dict)

    @property
    def silent(self) -> bool:
        return self.kind == "badge"

    @property
    def thread_id(self) -> str | None:
        # Phones group by it (APNs thread-id, Android tag), and a newer alert replaces the older one.
        return f"conversation-{self.conversation_id}" if self.conversation_id is not None else None

    def custom_data(self) -> dict:
        """The deep-link fields the app reads, beside the visible alert."""
        data = {"type": self.kind, **self.data}
        if self.conversation_id is not None:
            data["conversation_id"] = self.conversation_id
        if self.channel:
            data["channel"] = self.channel
        if self.message_id is not None:
            data["message_id"] = self.message_id
        return data


class PushBackend(Protocol):
    platform: str

    def send(self, target: Target, notification: Notification) -> PushResult: ...


class PushConfigurationError(Exception):
    """Credentials are present but unusable. Its message never contains the credential itself."""
