"""Keyword-only builders for rows, and a small API client that sends the bearer token."""

from app.extensions import db
from app.models import Contact, Conversation, Message, Tenant, User
from app.models.base import utcnow
from app.services import accounts


def make_tenant(*, name: str = "Tenant", sms_provider: str | None = None, **fields) -> Tenant:
    tenant = Tenant(name=name, sms_provider=sms_provider, **fields)
    db.session.add(tenant)
    db.session.commit()
    return tenant


_counter = iter(range(1, 1_000_000))


def make_user(
    *, tenant: Tenant, email: str | None = None, role: str = "staff", name: str = "A User", password="pw-123456"
):
    email = email or f"user{next(_counter)}@{tenant.name.lower()}.test"
    return accounts.create_user(tenant, email=email, name=name, role=role, password=password)


def make_token(*, user: User) -> str:
    return accounts.issue_token(user, "test")


def make_contact(*, tenant: Tenant, phone: str | None = None, first_name: str | None = "Pat", **fields) -> Contact:
    contact = Contact(tenant_id=tenant.id, phone=phone, first_name=first_name, **fields)
    db.session.add(contact)
    db.session.commit()
    return contact


def make_conversation(
    *, tenant: Tenant, channel: str = "sms", contact: Contact | None = None, status: str = "open", **fields
) -> Conversation:
    conversation = Conversation(
        tenant_id=tenant.id,
        channel=channel,
        status=status,
        contact_id=contact.id if contact else None,
        phone_number=contact.phone if contact else None,
        last_message_at=fields.pop("last_message_at", utcnow()),
        meta=fields.pop("meta", {}),
        **fields,
    )
    db.session.add(conversation)
    db.session.commit()
    return conversation


def make_message(
    *, conversation: Conversation, direction: str = "inbound", body: str = "hello", read: bool = False, **fields
) -> Message:
    message = Message(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        sender_type="visitor" if direction == "inbound" else "staff",
        body=body,
        channel=conversation.channel,
        direction=direction,
        delivery_status=fields.pop("delivery_status", "delivered" if direction == "inbound" else "sent"),
        read_at=utcnow() if read else None,
        attachments=fields.pop("attachments", []),
        **fields,
    )
    db.session.add(message)
    db.session.flush()
    conversation.last_message_id = message.id
    conversation.last_message_at = message.inserted_at
    db.session.commit()
    return message


class ApiClient:
    def __init__(self, client, token: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def request(self, method: str, path: str, **kwargs):
        return self._call(method, path, **kwargs)

    def get(self, path, **kwargs):
        return self._call("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self._call("POST", path, json=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self._call("PUT", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self._call("DELETE", path, **kwargs)
