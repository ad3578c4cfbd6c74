"""Twilio Programmable Messaging (REST API 2010-04-01), through the official `twilio` package.

Facts from /work/shared/providers.md and specs/twilio/twilio_api_v2010.json (operations
CreateMessage, FetchMessage, FetchAccount). Twilio's error codes: https://www.twilio.com/docs/api/errors
"""

import threading
from datetime import datetime
from urllib.parse import urlencode

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from app.providers.base import (
    DELIVERED,
    FAILED,
    READ,
    SENT,
    OutboundMessage,
    ProviderError,
    ProviderIds,
    RateBudget,
    SendReceipt,
    StatusReport,
)
from app.providers.http import request_may_have_arrived
from app.providers.twilio_voice import TwilioVoice

TWILIO_API = "https://api.twilio.com"
# ListMessage, when looking for a send whose answer we never got (find_sent): the spec allows 1000 a page.
FIND_SENT_PAGE_SIZE = 200
FIND_SENT_MAX_PAGES = 25
MAX_MEDIA = 10  # CreateMessage: "You can include up to ten `media_url` parameters per message."

# Twilio message status (spec: message_enum_status) -> ours, for the states that say something final.
# accepted/scheduled/queued/sending are still inside Twilio; receiving/received belong to inbound
# messages; all of them map to None ("nothing final yet"). `partially_delivered` is in the spec's
# enum but not in providers.md: some parts reached the handset, so the recipient has the message.
_FINAL_STATUSES = {
    "sent": SENT,
    "delivered": DELIVERED,
    "partially_delivered": DELIVERED,
    "read": READ,  # WhatsApp only
    "undelivered": FAILED,
    "failed": FAILED,
    "canceled": FAILED,  # a scheduled message cancelled before it left
}
IN_FLIGHT_STATUSES = frozenset({"accepted", "scheduled", "queued", "sending", "receiving", "received"})

# Permanent refusals about the recipient (providers.md "Errors worth classifying"):
# 21211 invalid To, 21614 not a mobile number, 21408 region not enabled, 21606 From cannot send
# SMS, 21612 no route between From and To.
_INVALID_RECIPIENT_CODES = frozenset({21211, 21614, 21408, 21606, 21612})
OPTED_OUT_CODE = 21610  # the recipient replied STOP
BAD_CREDENTIALS_CODE = 20003
TOO_MANY_REQUESTS_CODE = 20429


def twilio_status_to_ours(status: str | None) -> str | None:
    """Our delivery status for a Twilio message status, or None while Twilio has nothing final.

    Shared with the status-callback webhook, so polling and callbacks speak the same language.
    """
    return _FINAL_STATUSES.get((status or "").lower())


def classify_twilio_error(
    status: int | None,
    code: int | None,
    message: str,
    *,
    retry_after: float | None = None,
    may_have_arrived: bool = False,
) -> ProviderError:
    """The one place that decides whether a Twilio failure is worth retrying.

    status is the HTTP status (None for a network failure), code Twilio's error code when it sent one.
    """
    if code is not None and code < 1000:  # the twilio package puts the HTTP status here when Twilio gave no code
        code = None
    label = str(code) if code is not None else (f"http_{status}" if status is not None else "network")
    details = {"http_status": status} if status is not None else {}

    def error(**kinds) -> ProviderError:
        return ProviderError(message=message, code=label, details=details, **kinds)

    if status is None:
        # No answer. Connection refused, DNS, a connect timeout: nothing reached Twilio, so try again.
        # A read timeout or a dropped connection after the request went out: Twilio may have it.
        return error(outcome_unknown=True) if may_have_arrived else error(transient=True)
    if code == OPTED_OUT_CODE:
        return error(opted_out=True)
    if code in _INVALID_RECIPIENT_CODES:
        return error()
    if code == BAD_CREDENTIALS_CODE or status == 401:
        return error(bad_credentials=True)
    if code == TOO_MANY_REQUESTS_CODE or status == 429:
        return error(transient=True, rate_limited=True, retry_after=retry_after)
    if status >= 500:
        return error(transient=True)
    return error()  # any other 4xx: the same request will be refused again (STYLE.md habit 8)


class RebasedHttpClient(TwilioHttpClient):
    """Twilio's requests-based client with a timeout and a configurable base URL.

    Twilio's default client has no timeout (providers.md); a stalled call would hold a worker forever.
    The base URL lets staging and tests point the official client at a local fake.
    It also remembers the last response's headers (per thread) so a 429's Retry-After can be read:
    the twilio package's exceptions do not carry headers.
    """

    def __init__(self, *, base_url: str = TWILIO_API, timeout: float = 10.0):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self._local = threading.local()

    @property
    def last_headers(self):
        return getattr(self._local, "headers", None)

    def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO_API + "/"):
            url = self.base_url + url[len(TWILIO_API) :]
        self._local.headers = None
        response = super().request(method, url, *args, **kwargs)
        self._local.headers = response.headers
        return response


class TwilioProvider(TwilioVoice):  # calls and media: twilio_voice.py
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        phone_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str = TWILIO_API,
        timeout: float = 10.0,
        status_callback_url: str | None = None,
        number_rate_limit: str | None = None,
        service_rate_limit: str | None = None,
    ):
        self.account_sid = account_sid
        self.phone_number = phone_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback_url = status_callback_url  # where Twilio reports delivery: our webhook
        # A long code sends about 1 message/s, a messaging service spreads over its pool: the budget
        # belongs to the sender, whichever tenants share it.
        if messaging_service_sid:
            self.rate_budget = RateBudget(service_rate_limit, f"twilio:{messaging_service_sid}")
        else:
            self.rate_budget = RateBudget(number_rate_limit, f"twilio:{phone_number}") if phone_number else None
        if self.rate_budget is not None and not self.rate_budget.limit:
            self.rate_budget = None
        self.http_client = RebasedHttpClient(base_url=api_base_url, timeout=timeout)
        # One client (and so one pooled requests.Session) per adapter instance.
        self.client = Client(account_sid, auth_token, account_sid=account_sid, http_client=self.http_client)

    def send(self, message: OutboundMessage) -> SendReceipt:
        params = self._create_params(message)
        resource = self._call(lambda: self.client.messages.create(**params), repeatable=False)
        # queued/accepted/sending all mean the message has left us; a final state (rare at create) wins.
        return SendReceipt(ids=ProviderIds(message=resource.sid), status=twilio_status_to_ours(resource.status) or SENT)

    def fetch_status(self, provider_message_id: str) -> StatusReport:
        resource = self._call(lambda: self.client.messages(provider_message_id).fetch())
        status = twilio_status_to_ours(resource.status)
        if status != FAILED:
            return StatusReport(status)
        code = resource.error_code
        return StatusReport(
            FAILED, error_code=str(code) if code is not None else None, error_message=resource.error_message
        )

    def find_sent(self, message: OutboundMessage, since: datetime) -> SendReceipt | None:
        """ListMessage to the recipient (from our number, when we send from one), newest first, page
        after page: the message created since `since` with our body, from our number or messaging
        service. A busy recipient cannot push ours off a first page.

        No DateSent filter: a message Twilio still queues (a long code's backlog can wait hours) has
        no date_sent yet, and a filter on it could hide exactly the message we are looking for. The
        walk stops instead at a page whose oldest message was both created and sent before `since`;
        a message without date_sent never ends it.
        """
        params = self._create_params(message)
        filters = {"to": params["to"], "page_size": FIND_SENT_PAGE_SIZE}
        if "from_" in params:
            filters["from_"] = params["from_"]
        page = self._call(lambda: self.client.messages.page(**filters))
        for _ in range(FIND_SENT_MAX_PAGES):
            resources = list(page)
            for resource in resources:
                created = resource.date_created
                ours = (
                    resource.messaging_service_sid == self.messaging_service_sid if self.messaging_service_sid else True
                )
                if ours and resource.body == message.body and (created is None or created >= since):
                    status = twilio_status_to_ours(resource.status) or SENT
                    return SendReceipt(ids=ProviderIds(message=resource.sid), status=status)
            if not resources or _before(resources[-1], since) or page.next_page_url is None:
                return None
            page = self._call(page.next_page)
        # Thousands of messages to one person since the send: too odd to call "not there". Ask again later.
        raise ProviderError(
            f"Over {FIND_SENT_MAX_PAGES} pages of messages to this recipient since the send: not searched to the end.",
            code="search_too_long",
            transient=True,
        )

    def verify_credentials(self) -> None:
        try:
            self._call(lambda: self.client.api.accounts(self.account_sid).fetch())
        except ProviderError as exc:
            if exc.transient:
                raise
            # 401/20003, or 404 for an account SID the token cannot see: the tenant's settings are wrong.
            code = "20003" if exc.bad_credentials else exc.code
            raise ProviderError(exc.message, code=code, bad_credentials=True, details=exc.details) from exc

    def _create_params(self, message: OutboundMessage) -> dict:
        if message.channel not in ("sms", "whatsapp"):
            raise ProviderError(f"Twilio cannot send on channel {message.channel!r}.", code="unsupported_channel")
        if len(message.media_urls) > MAX_MEDIA:
            # Refuse rather than drop images silently (providers.md: "only the first image of an MMS kept").
            raise ProviderError(f"Twilio accepts at most {MAX_MEDIA} media URLs per message.", code="too_many_media")
        prefix = "whatsapp:" if message.channel == "whatsapp" else ""
        params = {"to": prefix + message.recipient.phone, "body": message.body}
        if self.messaging_service_sid:
            # A2P 10DLC: a registered Messaging Service picks the sender and spreads the load.
            params["messaging_service_sid"] = self.messaging_service_sid
        elif self.phone_number:
            params["from_"] = prefix + self.phone_number
        else:
            raise ProviderError(
                "Neither a Twilio phone number nor a Messaging Service is configured.",
                code="no_sender",
                bad_credentials=True,
            )
        if message.media_urls:
            params["media_url"] = list(message.media_urls)
        if self.status_callback_url:
            # Our message id rides in the URL, so a report of a send whose answer we never got finds it.
            reference = f"?{urlencode({'ref': message.reference})}" if message.reference else ""
            params["status_callback"] = self.status_callback_url + reference
        return params

    def _classify(self, status, code, message) -> ProviderError:
        return classify_twilio_error(status, code, message)

    def _call(self, operation, *, repeatable: bool = True):
        """Run one Twilio call, turning every failure into a classified ProviderError.

        `repeatable`: asking again is harmless (reads). A create that may have reached Twilio is not:
        its failure says the outcome is unknown rather than worth retrying.
        """
        try:
            return operation()
        except TwilioServiceException as exc:  # RFC 9457 problem details, newer Twilio services
            raise classify_twilio_error(
                exc.status, exc.code, exc.detail or exc.title, retry_after=_retry_after(self.http_client.last_headers)
            ) from exc
        except TwilioRestException as exc:
            raise classify_twilio_error(
                exc.status, exc.code, exc.msg, retry_after=_retry_after(self.http_client.last_headers)
            ) from exc
        except requests.RequestException as exc:  # ConnectionError, Timeout: TwilioHttpClient lets them through
            raise classify_twilio_error(
                None,
                None,
                f"Twilio unreachable: {type(exc).__name__}",
                may_have_arrived=not repeatable and request_may_have_arrived(exc),
            ) from exc


def _before(resource, since: datetime) -> bool:
    """Whether a listed message was created and sent before `since` (so every later one was too,
    whichever of the two dates Twilio orders its list by). A message not sent yet has no date_sent."""
    created, sent = resource.date_created, resource.date_sent
    return created is not None and sent is not None and created < since and sent < since


def _retry_after(headers) -> float | None:
    """Seconds from a Retry-After header, when Twilio sent one (seconds form only)."""
    value = (headers or {}).get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
