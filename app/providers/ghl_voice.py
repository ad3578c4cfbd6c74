"""GHL's voicemail transcripts for the port (TranscribesCalls).

Spec: specs/ghl/conversations.json, operation get-message-transcription:
GET /conversations/locations/{locationId}/messages/{messageId}/transcription, Version header
required; the answer is the transcript's sentences (GetMessageTranscriptionResponseDto: transcript,
sentenceIndex, mediaChannel, startTime, endTime, confidence).
"""

from urllib.parse import quote

import requests

from app.providers.base import ProviderError


class GhlTranscripts:
    """Mixed into GhlProvider: uses its session, key, location, version and error classification."""

    def fetch_transcript(self, provider_message_id: str) -> str | None:
        from app.providers.ghl import classify_ghl_response, network_error  # ghl.py imports this module

        path = (
            f"/conversations/locations/{quote(self.location_id, safe='')}"
            f"/messages/{quote(provider_message_id, safe='')}/transcription"
        )
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Version": self.conversations_version,
            "Accept": "application/json",
        }
        try:
            response = self.session.get(self.base_url + path, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise network_error(exc) from exc
        if response.status_code == 404:
            return None  # no transcript (yet)
        if not response.ok:
            raise classify_ghl_response(response)
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProviderError("GHL answered with something other than JSON.", code="bad_response") from exc
        return transcript_text(answer)


def transcript_text(answer) -> str | None:
    """The sentences in order, as one text; seen as a list, one sentence, or wrapped in an object."""
    if isinstance(answer, dict):
        answer = next((answer[key] for key in ("transcription", "transcriptions", "data") if key in answer), [answer])
    sentences = [item for item in answer if isinstance(item, dict)] if isinstance(answer, list) else []
    sentences.sort(key=lambda item: (_number(item.get("sentenceIndex")), _number(item.get("startTime"))))
    text = " ".join(str(item.get("transcript") or "").strip() for item in sentences).strip()
    return " ".join(text.split()) or None


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
