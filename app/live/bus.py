"""The event bus: what changed in a tenant's inbox, fanned out to every web process's open streams.

Two implementations behind one interface. With REDIS_URL, events go through Redis: each durable
event is appended to a short per-tenant Redis stream (the log `Last-Event-ID` replays from) and
published on one pub/sub channel in the same Lua script, so every process sees events in log order.
Each web process keeps one pub/sub connection and hands events to its local subscribers' queues
(500 open streams cost one Redis connection, not 500). Without Redis (development on SQLite), an
in-process broadcaster does the same for the one process there is.

Event ids look like Redis stream ids ("<milliseconds>-<sequence>") in both implementations, so
clients and the stream code compare them one way.
"""

import contextlib
import json
import logging
import queue
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

log = logging.getLogger(__name__)

CHANNEL = "live:events"
# Publishing happens while a request is answered (after its commit): a frozen Redis may cost that
# request this long, once (app.celery.redis_call then makes the others skip it). Reads (replay, the
# listener) wait up to the broker's socket timeout.
PUBLISH_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Event:
    tenant_id: int
    type: str
    data: dict
    id: str | None = None  # None: ephemeral (typing), not in the log and not replayable

    def to_json(self) -> str:
        return json.dumps({"tenant_id": self.tenant_id, "type": self.type, "data": self.data, "id": self.id})

    @classmethod
    def from_json(cls, text: str) -> "Event":
        raw = json.loads(text)
        return cls(tenant_id=int(raw["tenant_id"]), type=raw["type"], data=raw["data"], id=raw.get("id"))


def _text(reply) -> str:
    return reply.decode() if isinstance(reply, bytes) else reply


def id_key(event_id: str | None) -> tuple[int, int] | None:
    """A comparable form of an event id, or None when it is not one of ours (a client's junk)."""
    if not event_id:
        return None
    millis, _, sequence = event_id.partition("-")
    try:
        return int(millis), int(sequence or 0)
    except ValueError:
        return None


# Markers put on a subscriber's queue besides events.
SHUTDOWN = object()  # the process is stopping: end the stream so the client reconnects elsewhere
RESYNC = object()  # the bus lost its connection: events may be missing, replay from the log
END = object()  # returned by a stream's shape: this event ends the stream (e.g. its token was replaced)


class Subscription:
    """One open stream's queue of events for one tenant."""

    def __init__(self, bus: "BaseBus", tenant_id: int, max_queued: int = 1000):
        self.bus = bus
        self.tenant_id = tenant_id
        self.queue: queue.Queue = queue.Queue(maxsize=max_queued)

    def offer(self, item) -> None:
        try:
            self.queue.put_nowait(item)
        except queue.Full:  # a stalled client: drop it rather than grow without bound; it resumes by id
            self.bus.unsubscribe(self)
            self.queue = queue.Queue(maxsize=1)
            self.queue.put_nowait(SHUTDOWN)

    def get(self, timeout: float):
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.bus.unsubscribe(self)


class BaseBus:
    uses_redis = False  # whether publishing waits on Redis (app.live skips a Redis that is failing)

    def __init__(self, log_size: int):
        self.log_size = log_size
        self._subscribers: dict[int, set[Subscription]] = defaultdict(set)
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def subscribe(self, tenant_id: int) -> Subscription:
        subscription = Subscription(self, tenant_id)
        with self._lock:
            self._subscribers[tenant_id].add(subscription)
        if self.stopping.is_set():
            subscription.offer(SHUTDOWN)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers[subscription.tenant_id].discard(subscription)
            if not self._subscribers[subscription.tenant_id]:
                del self._subscribers[subscription.tenant_id]

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(subs) for subs in self._subscribers.values())

    def _deliver(self, tenant_id: int, item) -> None:
        with self._lock:
            targets = list(self._subscribers.get(tenant_id, ()))
        for subscription in targets:
            subscription.offer(item)

    def _deliver_all(self, item) -> None:
        with self._lock:
            targets = [sub for subs in self._subscribers.values() for sub in subs]
        for subscription in targets:
            subscription.offer(item)

    def shutdown(self) -> None:
        """End every open stream (on SIGTERM): clients reconnect, with Last-Event-ID, to a live process."""
        self.stopping.set()
        self._deliver_all(SHUTDOWN)

    # Implemented by each bus.
    def publish(self, tenant_id: int, type_: str, data: dict, *, durable: bool = True) -> Event:
        raise NotImplementedError

    def publish_many(self, announcements: list[tuple[int, str, dict, bool]]) -> list[Event]:
        """`publish` for each (tenant_id, type, data, durable), in order."""
        return [
            self.publish(tenant_id, type_, data, durable=durable) for tenant_id, type_, data, durable in announcements
        ]

    def replay(self, tenant_id: int, after_id: str) -> list[Event]:
        raise NotImplementedError


class InProcessBus(BaseBus):
    """One process, no Redis: development and single-process test servers."""

    def __init__(self, log_size: int):
        super().__init__(log_size)
        self._logs: dict[int, deque] = defaultdict(lambda: deque(maxlen=self.log_size))
        self._last = (0, 0)

    def _next_id(self) -> str:
        millis = int(time.time() * 1000)
        self._last = (millis, 0) if millis > self._last[0] else (self._last[0], self._last[1] + 1)
        return f"{self._last[0]}-{self._last[1]}"

    def publish(self, tenant_id, type_, data, *, durable=True):
        with self._lock:
            event = Event(tenant_id, type_, data, self._next_id() if durable else None)
            if durable:
                self._logs[tenant_id].append(event)
        self._deliver(tenant_id, event)
        return event

    def replay(self, tenant_id, after_id):
        after = id_key(after_id)
        if after is None:
            return []
        with self._lock:
            return [event for event in self._logs.get(tenant_id, ()) if id_key(event.id) > after]


# XADD and PUBLISH in one script: Redis runs it atomically, so pub/sub order is log order.
_PUBLISH_SCRIPT = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], id .. ' ' .. ARGV[2])
return id
"""


class RedisBus(BaseBus):
    """Every web process, through Redis: a per-tenant stream for replay and one pub/sub channel."""

    uses_redis = True

    def __init__(self, url: str, log_size: int, log_ttl_seconds: int):
        super().__init__(log_size)
        import redis

        from config import BROKER_SOCKET_TIMEOUT_SECONDS

        timeout = BROKER_SOCKET_TIMEOUT_SECONDS
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )
        self._publisher = redis.Redis.from_url(
            url, socket_timeout=PUBLISH_TIMEOUT_SECONDS, socket_connect_timeout=PUBLISH_TIMEOUT_SECONDS
        )
        self._url = url
        self._ttl = log_ttl_seconds
        self._script = self._publisher.register_script(_PUBLISH_SCRIPT)
        self._listener: threading.Thread | None = None
        self._listener_lock = threading.Lock()
        self._listening = threading.Event()

    @staticmethod
    def log_key(tenant_id: int) -> str:
        return f"live:log:{tenant_id}"

    def publish(self, tenant_id, type_, data, *, durable=True):
        return self.publish_many([(tenant_id, type_, data, durable)])[0]

    def publish_many(self, announcements):
        """One round trip for them all: a pipeline (each event's script is atomic on its own)."""
        from redis.exceptions import NoScriptError

        try:
            replies = self._pipeline_of(announcements).execute()
        except NoScriptError:  # Redis restarted since: no script ran (an ephemeral PUBLISH among them goes twice)
            self._publisher.script_load(_PUBLISH_SCRIPT)
            replies = self._pipeline_of(announcements).execute()
        return [
            Event(tenant_id, type_, data, _text(reply) if durable else None)
            for (tenant_id, type_, data, durable), reply in zip(announcements, replies, strict=True)
        ]

    def _pipeline_of(self, announcements):
        # EVALSHA itself: a pipeline of registered scripts would ask Redis whether they exist first.
        pipeline = self._publisher.pipeline(transaction=False)
        for tenant_id, type_, data, durable in announcements:
            payload = Event(tenant_id, type_, data).to_json()
            if durable:
                args = (self.log_size, payload, self._ttl, CHANNEL)
                pipeline.evalsha(self._script.sha, 1, self.log_key(tenant_id), *args)
            else:
                pipeline.publish(CHANNEL, "- " + payload)
        return pipeline

    def replay(self, tenant_id, after_id):
        if id_key(after_id) is None:
            return []
        entries = self._redis.xrange(self.log_key(tenant_id), min="(" + after_id, count=self.log_size)
        events = []
        for entry_id, fields in entries:
            raw = Event.from_json(fields[b"e"].decode())
            events.append(Event(raw.tenant_id, raw.type, raw.data, entry_id.decode()))
        return events

    def subscribe(self, tenant_id):
        self._ensure_listener()
        return super().subscribe(tenant_id)

    def wait_until_listening(self, timeout: float = 5) -> bool:
        self._ensure_listener()
        return self._listening.wait(timeout)

    def _ensure_listener(self) -> None:
        with self._listener_lock:
            if self._listener is None or not self._listener.is_alive():
                self._listener = threading.Thread(target=self._listen, name="live-bus-listener", daemon=True)
                self._listener.start()

    def _listen(self) -> None:
        """One pub/sub connection per process; on a lost connection, reconnect and tell streams to resync."""
        backoff = 0.5
        while not self.stopping.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(CHANNEL)
                self._listening.set()
                backoff = 0.5
                while not self.stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(message["data"])
            except Exception:  # redis.ConnectionError and friends: keep serving, streams replay the gap
                log.warning("live.bus-connection-lost", exc_info=True)
                self._listening.clear()
                self._deliver_all(RESYNC)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection may fail again
                    pubsub.close()

    def _dispatch(self, raw: bytes) -> None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        event_id, _, payload = text.partition(" ")
        event = Event.from_json(payload)
        self._deliver(
            event.tenant_id, Event(event.tenant_id, event.type, event.data, None if event_id == "-" else event_id)
        )
