"""Twilio's requests about a call we placed (click-to-call), in the port's words.

Each request comes to /webhooks/twilio/voice/outbound/<our message id>/<step>, so it names our
message even when it overtakes the worker recording the call's SID.
- status: the staff leg's status callback (CreateCall StatusCallback): CallStatus, CallDuration.
- dialed: <Dial action> once the customer's leg ends: DialCallStatus, DialCallDuration.
  https://www.twilio.com/docs/voice/twiml/dial#action
- recording: <Dial recordingStatusCallback>: RecordingSid, RecordingUrl, RecordingDuration.
"""

from app.providers.base import PlacedCallReport

STAFF_LEG, CUSTOMER_LEG, RECORDING_LEG = "call.placed.staff", "call.placed.customer", "call.placed.recording"
EVENT_TYPES = (STAFF_LEG, CUSTOMER_LEG, RECORDING_LEG)
REFERENCE = "_reference"  # our message id, added to the stored parameters (Twilio's own names are CamelCase)


def classify(step: str, params: dict) -> tuple[str, str]:
    """(event type, dedupe key) for a request at `step`; ValueError for anything else."""
    call_sid = params.get("CallSid")
    if not call_sid:
        raise ValueError("CallSid is missing.")
    if step == "status":
        return STAFF_LEG, f"{call_sid}:staff:{params.get('CallStatus', '')}"
    if step == "dialed":
        return CUSTOMER_LEG, f"{call_sid}:customer:{params.get('DialCallStatus', '')}"
    if step == "recording":
        return RECORDING_LEG, f"{call_sid}:recording:{params.get('RecordingSid') or params.get('RecordingUrl', '')}"
    raise ValueError(f"Unknown step {step!r}.")


def translate(event_type: str, params: dict) -> PlacedCallReport:
    reference, call_id = str(params.get(REFERENCE, "")), params.get("CallSid")
    if event_type == STAFF_LEG:
        return PlacedCallReport(
            reference, "staff", call_id, params.get("CallStatus"), duration_seconds=_int(params.get("CallDuration"))
        )
    if event_type == CUSTOMER_LEG:
        return PlacedCallReport(
            reference,
            "customer",
            call_id,
            params.get("DialCallStatus"),
            duration_seconds=_int(params.get("DialCallDuration")),
        )
    return PlacedCallReport(
        reference,
        "recording",
        call_id,
        duration_seconds=_int(params.get("RecordingDuration")),
        recording_url=params.get("RecordingUrl"),
    )


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
