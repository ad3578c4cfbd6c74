"""A provider that sends nothing, for development and load tests.

It accepts a send at once and, `report_after` seconds later, reports the outcome through the same
status path a real provider's report takes. The recipient's number picks the outcome, like
Twilio's magic test numbers:

- ends in 0000: accepted, then failed (30003, unreachable)
- ends in 0001: a transient network error (the pipeline retries)
- ends in 0002: refused, the recipient opted out (21610)
- anything else: delivered
"""

import uuid

from app.providers.base import (
    DELIVERED,
    FAILED,
    SENT,
    OutboundMessage,
    ProviderError,
    ProviderIds,
    SendReceipt,
    StatusReport,
)

_WILL_FAIL, _WILL_DELIVER = "F", "D"


class SimulatorProvider:
    name = "simulator"
    rate_budget = None  # sends nothing, so nothing to share

    def __init__(self, *, report_after: float = 2.0):
        self.report_after = report_after

    def send(self, message: OutboundMessage) -> SendReceipt:
        phone = message.recipient.phone
        if phone.endswith("0001"):
            raise ProviderError("Simulated network failure.", code="network", transient=True)
        if phone.endswith("0002"):
            raise ProviderError("Simulated: the recipient replied STOP.", code="21610", opted_out=True)
        outcome = _WILL_FAIL if phone.endswith("0000") else _WILL_DELIVER
        # The outcome travels in the id, so the simulator keeps no state between send and report.
        return SendReceipt(
            ids=ProviderIds(message=f"SIM{outcome}{uuid.uuid4().hex}"),
            status=SENT,
            check_status_after=self.report_after,
        )

    def fetch_status(self, provider_message_id: str) -> StatusReport:
        if provider_message_id[3:4] == _WILL_FAIL:
            return StatusReport(FAILED, error_code="30003", error_message="Simulated: unreachable destination handset.")
        return StatusReport(DELIVERED)

    def find_sent(self, message: OutboundMessage, since) -> SendReceipt | None:
        return None  # it always answers, so nothing it took goes unanswered

    def verify_credentials(self) -> None:
        return None
