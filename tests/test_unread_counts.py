"""Unread counts are kept by the database (app/models/unread_triggers.py): whatever writes the
messages, each conversation's unread_count and the tenant's tallies equal a count from scratch."""

import threading

import sqlalchemy as sa

from app.extensions import db
from app.models import Conversation, Message, UnreadTally
from app.models.unread_triggers import recount_unread
from tests import factories


def counted_from_scratch(tenant_id: int) -> dict:
    """What the kept counts must equal: per conversation, and per channel outside archived ones."""
    per_conversation = dict(
        db.session.execute(
            sa.select(Conversation.id, sa.func.count(Message.id))
            .outerjoin(
                Message,
                sa.and_(
                    Message.conversation_id == Conversation.id,
                    Message.direction == "inbound",
                    Message.read_at.is_(None),
                ),
            )
            .where(Conversation.tenant_id == tenant_id)
            .group_by(Conversation.id)
        ).all()
    )
    archived = set(
        db.session.scalars(
            sa.select(Conversation.id).where(Conversation.tenant_id == tenant_id, Conversation.status == "archived")
        )
    )
    channels = dict(
        db.session.execute(
            sa.select(Conversation.id, Conversation.channel).where(Conversation.tenant_id == tenant_id)
        ).all()
    )
    tallies: dict[str, list[int]] = {}
    for conversation_id, unread in per_conversation.items():
        if unread and conversation_id not in archived:
            tally = tallies.setdefault(channels[conversation_id], [0, 0])
            tally[0] += unread
            tally[1] += 1
    return {"conversations": per_conversation, "tallies": {channel: tuple(t) for channel, t in tallies.items()}}


def kept(tenant_id: int) -> dict:
    db.session.expire_all()
    return {
        "conversations": dict(
            db.session.execute(
                sa.select(Conversation.id, Conversation.unread_count).where(Conversation.tenant_id == tenant_id)
            ).all()
        ),
        "tallies": {
            channel: (messages, held)
            for channel, messages, held in db.session.execute(
                sa.select(UnreadTally.channel, UnreadTally.messages, UnreadTally.conversations).where(
                    UnreadTally.tenant_id == tenant_id, UnreadTally.messages != 0
                )
            )
        },
    }


def test_counts_follow_every_change_to_messages_and_conversations(api, tenant, other_tenant):
    sms = factories.make_conversation(tenant=tenant, channel="sms")
    web = factories.make_conversation(tenant=tenant, channel="web")
    elsewhere = factories.make_conversation(tenant=other_tenant, channel="sms")
    steps = [
        lambda: factories.make_message(conversation=sms),
        lambda: factories.make_message(conversation=sms),
        lambda: factories.make_message(conversation=web),
        lambda: factories.make_message(conversation=web, read=True),  # history arrives read
        lambda: factories.make_message(conversation=sms, direction="outbound"),  # ours never counts
        lambda: factories.make_message(conversation=elsewhere),
        lambda: api.post(f"/api/v1/conversations/{sms.id}/read", json={"up_to_message_id": _first_unread(sms)}),
        lambda: api.put(f"/api/v1/conversations/{web.id}", json={"status": "archived"}),
        lambda: factories.make_message(conversation=web),  # archived: counted on it, not in the tallies
        lambda: api.post(f"/api/v1/conversations/{web.id}/reopen"),
        lambda: api.post(f"/api/v1/conversations/{sms.id}/read"),
        lambda: factories.make_message(conversation=web),
        lambda: db.session.execute(sa.delete(Conversation).where(Conversation.id == web.id)),  # its messages go too
    ]
    for number, step in enumerate(steps):
        step()
        for tenant_id in (tenant.id, other_tenant.id):
            assert kept(tenant_id) == counted_from_scratch(tenant_id), f"after step {number}"


def _first_unread(conversation) -> int:
    return db.session.scalar(
        sa.select(sa.func.min(Message.id)).where(Message.conversation_id == conversation.id, Message.read_at.is_(None))
    )


def test_the_badge_endpoint_and_the_list_read_the_kept_counts(api, tenant):
    conversation = factories.make_conversation(tenant=tenant, channel="whatsapp")
    for _ in range(3):
        factories.make_message(conversation=conversation)

    assert api.get("/api/v1/conversations/unread").json["data"]["by_channel"]["whatsapp"] == 3
    assert api.get("/api/v1/conversations").json["data"][0]["unread_count"] == 3
    read = api.post(f"/api/v1/conversations/{conversation.id}/read").json["data"]
    assert read == {"conversation_id": conversation.id, "marked_read": 3, "unread_count": 0}
    assert api.get("/api/v1/conversations/unread").json["data"]["total"] == 0


def test_a_recount_repairs_counts_written_behind_the_triggers_back(tenant):
    conversation = factories.make_conversation(tenant=tenant, channel="sms")
    factories.make_message(conversation=conversation)
    factories.make_message(conversation=conversation)
    db.session.execute(sa.update(Conversation).values(unread_count=7))
    db.session.execute(sa.delete(UnreadTally))

    recount_unread(db.session.connection(), tenant.id)

    assert (
        kept(tenant.id)
        == counted_from_scratch(tenant.id)
        == {
            "conversations": {conversation.id: 2},
            "tallies": {"sms": (2, 1)},
        }
    )


def test_racing_commits_that_touch_two_channels_in_opposite_orders_do_not_deadlock(committed):
    """Real commits: the tally triggers run at commit, taking the tenant's tally rows one transaction
    at a time, so two transactions cannot each hold one channel's row and wait for the other's."""
    tenant = factories.make_tenant(name="Acme")
    tenant_id = tenant.id
    firsts = [factories.make_conversation(tenant=tenant, channel=channel).id for channel in ("sms", "web")]
    seconds = [factories.make_conversation(tenant=tenant, channel=channel).id for channel in ("web", "sms")]
    both_wrote_once = threading.Barrier(2)
    errors = []

    def write(conversation_ids):
        with committed.app_context():
            try:
                for conversation_id in conversation_ids:
                    db.session.add(_inbound(db.session.get(Conversation, conversation_id)))
                    db.session.flush()
                    if conversation_id == conversation_ids[0]:
                        both_wrote_once.wait(timeout=5)
                db.session.commit()
            except Exception as exc:  # a deadlock would surface here
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=write, args=(ids,)) for ids in (firsts, seconds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert kept(tenant_id) == counted_from_scratch(tenant_id)
    assert kept(tenant_id)["tallies"] == {"sms": (2, 2), "web": (2, 2)}


def _inbound(conversation) -> Message:
    return Message(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        sender_type="visitor",
        body="hi",
        channel=conversation.channel,
        direction="inbound",
        delivery_status="delivered",
        attachments=[],
    )
