import marshmallow as ma

from app.models import Contact
from app.schemas.common import PageQuery, Phone, StrictSchema, UtcDateTime, fits
from app.schemas.dumping import OutputSchema

SEARCH_MAX_LENGTH = 100


class ContactSummarySchema(OutputSchema):
    id = ma.fields.Integer()
    first_name = ma.fields.String(allow_none=True)
    last_name = ma.fields.String(allow_none=True)
    phone = ma.fields.String(allow_none=True)
    email = ma.fields.String(allow_none=True)


class ContactSchema(ContactSummarySchema):
    ghl_contact_id = ma.fields.String(allow_none=True)
    sms_opted_out = ma.fields.Boolean()
    sms_opted_out_at = UtcDateTime(allow_none=True)
    calls_opted_out = ma.fields.Boolean(metadata={"description": "Asked not to be called: click-to-call refuses."})
    inserted_at = UtcDateTime()
    updated_at = UtcDateTime()


class ContactUpdateSchema(StrictSchema):
    first_name = ma.fields.String(allow_none=True, validate=fits(Contact.first_name))
    last_name = ma.fields.String(allow_none=True, validate=fits(Contact.last_name))
    phone = Phone(allow_none=True)
    email = ma.fields.Email(allow_none=True, validate=fits(Contact.email))
    sms_opted_out = ma.fields.Boolean()
    calls_opted_out = ma.fields.Boolean()


class ContactCreateSchema(ContactUpdateSchema):
    @ma.validates_schema
    def needs_a_way_to_reach(self, data, **kwargs):
        if not any(data.get(key) for key in ("first_name", "last_name", "phone", "email")):
            raise ma.ValidationError("Give at least a name, a phone number or an email.", "_schema")


class ContactListQuery(PageQuery):
    search = ma.fields.String(validate=ma.validate.Length(min=1, max=SEARCH_MAX_LENGTH))
