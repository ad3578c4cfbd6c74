"""The test seam for enqueues: what the app enqueued, recorded by name instead of reaching a broker.

Every test refuses enqueues it did not ask for (tests/conftest.py); a test that expects them asks
for the `queue` fixture and asserts on the jobs (STYLE.md habit 11).
"""

from typing import NamedTuple


class Job(NamedTuple):
    name: str
    args: tuple
    countdown: float | None = None


class RecordingQueue(list):
    """What was enqueued, in order. With `broker_down` set, enqueues fail as when Redis is down."""

    broker_down = False

    def named(self, name: str) -> list[Job]:
        return [job for job in self if job.name == name]

    def names(self) -> list[str]:
        return [job.name for job in self]

    def enqueue(self, name: str, *args, countdown: float | None = None) -> bool:
        if self.broker_down:
            return False
        self.append(Job(name, args, countdown))
        return True


class UnexpectedEnqueue(AssertionError):
    pass


def refuse(name: str, *args, countdown: float | None = None) -> bool:
    raise UnexpectedEnqueue(f"{name}{args} was enqueued, but this test did not ask for the `queue` fixture")
