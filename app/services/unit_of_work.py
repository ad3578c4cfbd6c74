"""One commit per use case.

A public service function is a use case: decorated with `@use_case`, it commits once when it
returns and rolls back when it raises. A use case called from another joins the outer one (only
the outermost commits), so use cases compose, as GOV.UK Notify's `@autocommit` does. Steps that
must be durable before a provider is called (the send's claim, "hold no transaction while the
provider answers") call `commit_step()` inside the use case, and say why.

A use case that can hit a unique constraint names the Conflict it means; the translation from
IntegrityError to that answer is written here, once.
"""

from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from sqlalchemy.exc import IntegrityError

from app.db_connections import transaction_from_here
from app.errors import Conflict
from app.extensions import db

_depth: ContextVar[int] = ContextVar("use_case_depth", default=0)
# What the outermost use case runs once it has committed (hand-offs that must see the committed rows).
_after_commit: ContextVar[list[Callable] | None] = ContextVar("after_commit", default=None)


def use_case(
    function: Callable | None = None, *, conflict: Callable[[], Conflict] | None = None, keep_loaded: bool = False
):
    """Decorate a service function: commit when the outermost use case returns, roll back when it raises.

    `conflict` builds the error a unique-constraint violation at the commit means (e.g. the phone
    number is another contact's). `keep_loaded`: its objects keep their values across its commits
    instead of being expired, for a use case answered with the rows it has just written (a send):
    reloading them after the commit would read back what it wrote, one SELECT per object.
    """

    def decorate(function: Callable) -> Callable:
        @wraps(function)
        def run(*args, **kwargs):
            outermost = _depth.get() == 0
            token = _depth.set(_depth.get() + 1)
            pending = _after_commit.set([]) if outermost else None
            if outermost:
                transaction_from_here(db.session())
            session = db.session() if keep_loaded and outermost else None
            if session is not None:
                expiring, session.expire_on_commit = session.expire_on_commit, False
            try:
                result = function(*args, **kwargs)
                if outermost:
                    commit_step(conflict)
                    callbacks = _after_commit.get()
            except BaseException:
                if outermost:
                    db.session.rollback()
                raise
            finally:
                _depth.reset(token)
                if pending is not None:
                    _after_commit.reset(pending)
                if session is not None:
                    session.expire_on_commit = expiring
            if outermost:
                for callback in callbacks:
                    callback()
            return result

        return run

    return decorate(function) if function is not None else decorate


def in_use_case() -> bool:
    return _depth.get() > 0


def after_commit(callback: Callable[[], object]) -> None:
    """Run `callback` once the outermost use case has committed (at once outside any use case).

    For hand-offs that must not run inside the transaction (the worker would not see the rows yet)
    and must not run at all when it rolls back. A callback must not raise.
    """
    pending = _after_commit.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


@contextmanager
def separate_use_case():
    """Run what follows as a use case of its own, even inside another (a task run in-process)."""
    token, pending = _depth.set(0), _after_commit.set(None)
    try:
        yield
    finally:
        _depth.reset(token)
        _after_commit.reset(pending)


def commit_step(conflict: Callable[[], Conflict] | None = None) -> None:
    """Commit now: the work so far must be durable before what follows (a provider call, a hand-off)."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if conflict is None:
            raise
        raise conflict() from exc


def contact_exists() -> Conflict:
    return Conflict(
        "Another contact already has this phone number.",
        code="contact_exists",
        fields={"phone": ["Already used by another contact."]},
    )


def conversation_exists() -> Conflict:
    return Conflict("This contact already has an open conversation on this channel.", code="conversation_exists")


def ghl_location_taken() -> Conflict:
    return Conflict(
        "This GHL location is already connected to another account.",
        code="ghl_location_taken",
        fields={"ghl_location_id": ["Already connected to another account."]},
    )
