"""Server-Sent Events: one held response per client, fed from the bus, resumable by event id.

The generator holds no database connection (the request's session is gone before the first byte
is streamed) and only waits on its own queue, with a comment line every HEARTBEAT seconds so idle
proxies keep the connection and a dead client is noticed.
"""

import json
from collections.abc import Callable, Iterator

from flask import Response

from app.live.bus import END, RESYNC, SHUTDOWN, BaseBus, Event, id_key

# Accept an event for this stream and shape its data, or None to skip it, or END to end the stream.
Shape = Callable[[Event], dict | None]


def _frame(event: Event, data: dict) -> str:
    lines = []
    if event.id:
        lines.append(f"id: {event.id}")
    lines.append(f"event: {event.type}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def event_stream(
    bus: BaseBus,
    tenant_id: int,
    last_event_id: str | None,
    *,
    shape: Shape,
    heartbeat_seconds: float = 15,
    max_seconds: float | None = None,
    retry_ms: int = 2000,
) -> Iterator[str]:
    subscription = bus.subscribe(tenant_id)  # before the replay, so nothing falls between the two
    last = last_event_id if id_key(last_event_id) else None

    def replay() -> Iterator[str]:
        nonlocal last
        for event in bus.replay(tenant_id, last):
            last = event.id
            data = shape(event)
            if data is not None and data is not END:
                yield _frame(event, data)

    def generate() -> Iterator[str]:
        nonlocal last
        waited = 0.0
        try:
            # A first line at once: the client knows it is connected; `retry` sets its reconnect delay.
            yield f"retry: {retry_ms}\n: connected\n\n"
            if last is not None:
                yield from replay()
            while True:
                item = subscription.get(heartbeat_seconds)
                if item is SHUTDOWN:
                    yield "event: reconnect\ndata: {}\n\n"
                    return
                if item is None:
                    waited += heartbeat_seconds
                    if max_seconds is not None and waited >= max_seconds:
                        return
                    yield ": keep-alive\n\n"
                    continue
                if item is RESYNC:
                    if last is not None:
                        yield from replay()
                    continue
                if item.id is not None:
                    if last is not None and id_key(item.id) <= id_key(last):
                        continue  # already sent by the replay
                    last = item.id
                data = shape(item)
                if data is END:
                    yield "event: reconnect\ndata: {}\n\n"
                    return
                if data is not None:
                    yield _frame(item, data)
        finally:
            subscription.close()

    return generate()


def sse_response(stream: Iterator[str]) -> Response:
    response = Response(stream, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx and friends: do not buffer the stream
    return response
