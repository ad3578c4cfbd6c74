"""Webhook payloads shaped as the providers document them: parameter names, casing, JSON fields.

Twilio: form parameters of the messaging webhook and status callback
(https://www.twilio.com/docs/messaging/guides/webhook-request), of the voice webhook and call
status callback (https://www.twilio.com/docs/voice/twiml#request-parameters), of <Dial>'s and
<Record>'s action requests and of the recording status callback (docs of those verbs).
GHL: the JSON events in /work/shared/specs/ghl/webhook-events/, plus `timestamp` and `webhookId`,
which every delivery carries (WebhookAuthentication.md).
"""

import itertools
from datetime import datetime, timedelta

from app.models.base import utcnow

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "twilio-auth-token-acme"
OTHER_AUTH_TOKEN = "twilio-auth-token-globex"
TWILIO_NUMBER = "+15005550006"
SERVICE_SID = "MG" + "b2" * 16
CUSTOMER = "+14155552345"
FORWARD_TO = "+14155550100"
LOCATION_ID = "l1C08ntBrFjLS0elLIYU"
GHL_CONTACT_ID = "cI08i1Bls3iTB9bKgFJh"

_serial = itertools.count(1)


def sid(prefix: str) -> str:
    """A fresh Twilio SID: two letters and 32 hex digits."""
    return f"{prefix}{next(_serial):032x}"


def ghl_id() -> str:
    return f"ghl{next(_serial):017d}"


# --- Twilio: messaging -----------------------------------------------------------------------


def twilio_sms(*, body: str = "Is my order ready?", sender: str = CUSTOMER, to: str = TWILIO_NUMBER, **extra) -> dict:
    """An inbound SMS, as Twilio posts it to the number's "A message comes in" URL."""
    message_sid = extra.pop("MessageSid", None) or sid("SM")
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": message_sid,
        "NumMedia": "0",
        "ToCity": "SAN FRANCISCO",
        "FromZip": "94105",
        "SmsSid": message_sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "ToZip": "94105",
        "NumSegments": "1",
        "MessageSid": message_sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def twilio_mms(media: list[tuple[str, str]], *, body: str = "", **extra) -> dict:
    """An inbound MMS: NumMedia, and MediaUrlN with MediaContentTypeN for each item."""
    message_sid = sid("MM")
    params = twilio_sms(body=body, MessageSid=message_sid, **extra)
    params["NumMedia"] = str(len(media))
    for index, (url, content_type) in enumerate(media):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    return params


def twilio_media_url(message_sid: str) -> str:
    return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}/Media/{sid('ME')}"


def twilio_whatsapp(*, body: str = "Hola", sender: str = CUSTOMER, to: str = TWILIO_NUMBER, **extra) -> dict:
    """An inbound WhatsApp message: both addresses carry the `whatsapp:` prefix."""
    params = twilio_sms(body=body, sender=f"whatsapp:{sender}", to=f"whatsapp:{to}", **extra)
    for name in ("ToCountry", "ToState", "ToCity", "ToZip", "FromZip", "FromState", "FromCity", "FromCountry"):
        params.pop(name)
    params.update(ProfileName="Pat", WaId=sender.lstrip("+"), MessageType="text", ReferralNumMedia="0")
    return params


def twilio_status(message_sid: str, status: str, *, error_code: str | None = None, **extra) -> dict:
    """A message status callback (the StatusCallback given at send time)."""
    params = {
        "MessageSid": message_sid,
        "MessageStatus": status,
        "SmsSid": message_sid,
        "SmsStatus": status,
        "AccountSid": ACCOUNT_SID,
        "From": TWILIO_NUMBER,
        "To": CUSTOMER,
        "ApiVersion": "2010-04-01",
        **extra,
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


# --- Twilio: voice ---------------------------------------------------------------------------


def twilio_call(call_sid: str, *, status: str = "ringing", sender: str = CUSTOMER, to: str = TWILIO_NUMBER, **extra):
    """The standard voice request parameters: the incoming call itself ("A call comes in")."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Called": to,
        "CalledCountry": "US",
        "Caller": sender,
        "CallerCountry": "US",
        "Direction": "inbound",
        "From": sender,
        "FromCountry": "US",
        "To": to,
        "ToCountry": "US",
        **extra,
    }


def twilio_call_status(call_sid: str, status: str = "completed", *, duration: int = 42, **extra) -> dict:
    """The call status callback ("Call status changes"): CallDuration in seconds once it ended."""
    return twilio_call(
        call_sid,
        status=status,
        CallDuration=str(duration),
        Duration=str(max(1, duration // 60)),
        CallbackSource="call-progress-events",
        SequenceNumber="0",
        Timestamp="Tue, 05 Mar 2026 20:00:00 +0000",
        **extra,
    )


def twilio_dial_action(call_sid: str, dial_status: str = "no-answer") -> dict:
    """<Dial action=...>: the call comes back with DialCallStatus once the forwarded leg ended."""
    return twilio_call(
        call_sid,
        status="in-progress",
        DialCallStatus=dial_status,
        DialCallSid=sid("CA"),
        DialCallDuration="0" if dial_status != "completed" else "61",
        DialBridged="false" if dial_status != "completed" else "true",
    )


def recording_url(recording_sid: str) -> str:
    return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"


def twilio_record_action(call_sid: str, recording_sid: str, *, duration: int = 17) -> dict:
    """<Record action=...>: the standard voice parameters plus RecordingUrl, RecordingDuration, Digits."""
    return twilio_call(
        call_sid,
        status="in-progress",
        RecordingUrl=recording_url(recording_sid),
        RecordingDuration=str(duration),
        Digits="hangup",
    )


def twilio_recording_status(call_sid: str, recording_sid: str, *, duration: int = 17) -> dict:
    """<Record recordingStatusCallback=...>: no From or To in these."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": recording_url(recording_sid),
        "RecordingStatus": "completed",
        "RecordingDuration": str(duration),
        "RecordingChannels": "1",
        "RecordingStartTime": "Tue, 05 Mar 2026 20:00:05 +0000",
        "RecordingSource": "RecordVerb",
        "RecordingTrack": "both",
    }


# --- GHL -------------------------------------------------------------------------------------


def ghl_timestamp(moment: datetime | None = None) -> str:
    moment = moment or utcnow()
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _delivery(**fields) -> dict:
    return {"timestamp": ghl_timestamp(), "webhookId": ghl_id(), **fields}


def ghl_inbound(*, body: str = "This is a test message", message_type: str = "SMS", **extra) -> dict:
    """InboundMessage, after the spec's Example(Message)."""
    return _delivery(
        **{
            "type": "InboundMessage",
            "locationId": LOCATION_ID,
            "attachments": [],
            "body": body,
            "contactId": GHL_CONTACT_ID,
            "contentType": "text/plain",
            "conversationId": "fcanlLgpbQgQhderivVs",
            "dateAdded": "2021-04-21T11:31:45.750Z",
            "direction": "inbound",
            "messageType": message_type,
            "messageId": ghl_id(),
            "status": "delivered",
            "conversationProviderId": "cI08i1Bls3iTB9bKgF01",
            **extra,
        }
    )


def ghl_call(
    *, status: str = "completed", duration: int | None = 120, recording: str | None = "https://rec/1", **extra
):
    """InboundMessage for a call, after the spec's Example(Call) and its voicemail example."""
    fields = {
        "type": "InboundMessage",
        "locationId": LOCATION_ID,
        "attachments": [recording] if recording else [],
        "contactId": GHL_CONTACT_ID,
        "conversationId": "SGDqZrzmwTr19d10aHkt9F",
        "dateAdded": "2024-05-08T11:57:42.250Z",
        "direction": "inbound",
        "messageType": "CALL",
        "messageId": ghl_id(),
        "status": status,
        "callStatus": status,
        **extra,
    }
    if duration is not None:
        fields["callDuration"] = duration
    return _delivery(**fields)


def ghl_outbound(*, message_id: str | None = None, body: str = "This is a test message", **extra) -> dict:
    """OutboundMessage, after the spec's Example(Message) (whose `direction` says "inbound": a doc quirk)."""
    return _delivery(
        **{
            "type": "OutboundMessage",
            "locationId": LOCATION_ID,
            "attachments": [],
            "body": body,
            "contactId": GHL_CONTACT_ID,
            "contentType": "text/plain",
            "conversationId": "fcanlLgpbQgQhderivVs",
            "dateAdded": "2021-04-21T11:31:45.750Z",
            "direction": "outbound",
            "messageType": "SMS",
            "messageId": message_id or ghl_id(),
            "source": "app",
            "status": "delivered",
            "userId": "xsmF1xxhmC92ZpL1lj7aLa",
            "conversationProviderId": "cI08i1Bls3iTB9bKgF01",
            **extra,
        }
    )


def ghl_dnd(*, dnd: bool, sms_status: str = "inactive", contact_id: str = GHL_CONTACT_ID, **extra) -> dict:
    """ContactDndUpdate, after the spec's example."""
    settings = {"status": "inactive", "message": "Some message", "code": "101"}
    return _delivery(
        **{
            "type": "ContactDndUpdate",
            "locationId": LOCATION_ID,
            "id": contact_id,
            "dateAdded": "2021-11-26T12:41:02.193Z",
            "dnd": dnd,
            "dndSettings": {
                "SMS": {**settings, "status": sms_status},
                "Call": settings,
                "Email": settings,
                "GMB": settings,
                "FB": settings,
                "WhatsApp": settings,
            },
            "email": "JohnDeo@gmail.comm",
            "name": "John Deo",
            "firstName": "John",
            "lastName": "Deo",
            "phone": "+919509597501",
            "tags": [],
            "attachments": [],
            "customFields": [],
            **extra,
        }
    )


def stale(payload: dict, *, minutes: int = 6) -> dict:
    return {**payload, "timestamp": ghl_timestamp(utcnow() - timedelta(minutes=minutes))}
