from flask import g

from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.schemas.common import envelope, page
from app.schemas.contacts import ContactCreateSchema, ContactListQuery, ContactSchema, ContactUpdateSchema
from app.services import contacts

blp = Blueprint("contacts", __name__, description="The people an account talks to")
blp.before_request(require_bearer_token)


@blp.get("/contacts")
@blp.arguments(ContactListQuery, location="query")
@blp.response(200, envelope(ContactSchema, many=True))
def list_contacts(query):
    """Contacts by name, filtered by `search` over name, phone and email."""
    found = contacts.list_contacts(g.tenant, **query)
    return page(found.rows, found.total, limit=query["limit"], offset=query["offset"])


@blp.post("/contacts")
@blp.arguments(ContactCreateSchema)
@blp.response(201, envelope(ContactSchema))
def create_contact(fields):
    """Create a contact. The phone number is stored as E.164 and is unique in the account."""
    return {"data": contacts.create_contact(g.tenant, **fields)}


@blp.get("/contacts/<id:contact_id>")
@blp.response(200, envelope(ContactSchema))
def get_contact(contact_id):
    """One contact, with its opt-out state."""
    return {"data": contacts.get_contact(g.tenant, contact_id)}


@blp.put("/contacts/<id:contact_id>")
@blp.arguments(ContactUpdateSchema)
@blp.response(200, envelope(ContactSchema))
def update_contact(fields, contact_id):
    """Change a contact; `sms_opted_out` records or clears an SMS opt-out by hand."""
    return {"data": contacts.update_contact(g.tenant, contact_id, **fields)}
