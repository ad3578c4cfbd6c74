import marshmallow as ma

from app.schemas.common import Id, Phone, StrictSchema


class CallSchema(StrictSchema):
    contact_id = Id()
    phone = Phone()

    @ma.validates_schema
    def exactly_one_callee(self, data, **kwargs):
        if ("contact_id" in data) == ("phone" in data):
            raise ma.ValidationError("Give exactly one of contact_id or phone.", "_schema")
