"""Twilio's webhook requests in the port's words.

One URL receives everything (inbound SMS/MMS/WhatsApp, message status callbacks, inbound calls,
call status callbacks, recordings); the parameters tell them apart.
https://www.twilio.com/docs/messaging/guides/webhook-request
https://www.twilio.com/docs/voice/twiml#request-parameters
"""

from app.providers.base import CallOutcome, DeliveryReport, ProviderIds, ProviderMessage, StatusReport
from app.providers.twilio import OPTED_OUT_CODE, twilio_status_to_ours

INBOUND_MESSAGE, MESSAGE_STATUS = "message.inbound", "message.status"
INBOUND_CALL, CALL_STATUS, RECORDING = "call.inbound", "call.status", "call.recording"
TRANSCRIPTION = "call.transcription"  # <Record transcribeCallback>: it names the recording too
FINAL_CALL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
# Where the webhook keeps our message reference from the status callback URL's query (`?ref=`).
REFERENCE = "_reference"


class UnknownEvent(ValueError):
    pass


def classify(params: dict) -> tuple[str, str]:
    """(event type, dedupe key) from the parameters. The key is Twilio's id plus the state it reports."""
    if call_sid := params.get("CallSid"):
        if transcription_sid := params.get("TranscriptionSid"):  # before the recording: it carries RecordingSid
            return TRANSCRIPTION, f"{call_sid}:transcription:{transcription_sid}"
        if recording_sid := _recording_sid(params):
            return RECORDING, f"{call_sid}:recording:{recording_sid}"
        status = params.get("CallStatus", "")
        event = CALL_STATUS if status in FINAL_CALL_STATUSES else INBOUND_CALL
        return event, f"{call_sid}:{status}"
    if message_sid := params.get("MessageSid") or params.get("SmsSid"):
        status = params.get("MessageStatus") or params.get("SmsStatus") or ""
        if status == "received" or ("Body" in params and "MessageStatus" not in params):
            return INBOUND_MESSAGE, f"{message_sid}:received"
        return MESSAGE_STATUS, f"{message_sid}:{status}"
    raise UnknownEvent("Neither MessageSid nor CallSid is present.")


def translate(event_type: str, params: dict) -> ProviderMessage | DeliveryReport | None:
    """One stored request in the port's words; None for a status that says nothing final."""
    if event_type == MESSAGE_STATUS:
        return _delivery_report(params)
    if event_type == INBOUND_MESSAGE:
        return _inbound_message(params)
    return _call(event_type, params)


def _inbound_message(params: dict) -> ProviderMessage:
    sender = params.get("From", "")
    # Every MediaUrlN, not only the first (a bug other products shipped).
    attachments = tuple(
        {"url": params[f"MediaUrl{index}"], "content_type": params.get(f"MediaContentType{index}")}
        for index in range(_int(params.get("NumMedia")) or 0)
        if params.get(f"MediaUrl{index}")
    )
    return ProviderMessage(
        channel="whatsapp" if sender.startswith("whatsapp:") else "sms",
        ids=ProviderIds(message=params.get("MessageSid") or params.get("SmsSid")),
        body=params.get("Body", ""),
        sender_phone=sender,
        attachments=attachments,
        opt_out_hint=params.get("OptOutType"),
    )


def _delivery_report(params: dict) -> DeliveryReport | None:
    status = twilio_status_to_ours(params.get("MessageStatus") or params.get("SmsStatus"))
    if status is None:
        return None  # in-flight states say nothing new
    error_code = params.get("ErrorCode") or None
    return DeliveryReport(
        params.get("MessageSid") or params.get("SmsSid"),
        StatusReport(
            status,
            error_code=error_code,
            error_message=params.get("ErrorMessage") or (f"Twilio error {error_code}" if error_code else None),
        ),
        recipient_opted_out=error_code == str(OPTED_OUT_CODE),
        reference=params.get(REFERENCE),
    )


def _call(event_type: str, params: dict) -> ProviderMessage:
    """A call, or news of it: one `voice` message per CallSid. Status and recording callbacks can
    overtake the call's first request, so each of them can start the message too."""
    if event_type == TRANSCRIPTION:
        # https://www.twilio.com/docs/voice/twiml/record#transcribecallback: TranscriptionStatus
        # completed or failed; a failed one adds nothing. No RecordingUrl here: the recording's own
        # report sets it (and the voicemail's length), in whichever order the two arrive.
        text = (params.get("TranscriptionText") or "").strip()
        completed = params.get("TranscriptionStatus") == "completed"
        outcome = CallOutcome("voicemail", transcript=text if completed and text else None)
    elif event_type == RECORDING:
        outcome = CallOutcome(
            "voicemail",
            recording_url=params.get("RecordingUrl"),
            recording_duration_seconds=_int(params.get("RecordingDuration")),
        )
    else:
        status = params.get("CallStatus", "")
        outcome = CallOutcome(status, duration_seconds=_int(params.get("CallDuration")) if status else None)
    return ProviderMessage(
        channel="voice",
        ids=ProviderIds(message=params["CallSid"]),
        body="Incoming call",
        sender_phone=params.get("From", ""),
        call=outcome,
    )


def _recording_sid(params: dict) -> str | None:
    """The recording a request reports, if any.

    <Record>'s action request carries RecordingUrl and RecordingDuration but no RecordingSid
    (https://www.twilio.com/docs/voice/twiml/record): the URL ends with the SID, so the action and
    the recording status callback dedupe to one event, and neither is mistaken for a new call.
    """
    if recording_sid := params.get("RecordingSid"):
        return recording_sid
    if url := params.get("RecordingUrl"):
        return url.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0] or url
    return None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
