import marshmallow as ma

from app.models.conversation import CHANNELS, STATUSES, Conversation
from app.models.message import DELIVERY_STATUSES
from app.schemas.common import (
    EdgeSchema,
    Id,
    JsonObject,
    PageMetaSchema,
    PageQuery,
    Phone,
    QueryId,
    StrictSchema,
    UtcDateTime,
    fits,
)
from app.schemas.contacts import SEARCH_MAX_LENGTH, ContactSummarySchema
from app.schemas.dumping import OutputSchema

MESSAGE_MAX_LENGTH = 1600  # Twilio's Body limit; GHL's SMS limit is the same order
channel_field = ma.validate.OneOf(CHANNELS)


class AttachmentSchema(OutputSchema):
    url = ma.fields.String()
    content_type = ma.fields.String(allow_none=True)


class MessageSchema(OutputSchema):
    id = ma.fields.Integer()
    conversation_id = ma.fields.Integer()
    body = ma.fields.String()
    channel = ma.fields.String()
    direction = ma.fields.String()
    sender_type = ma.fields.String()
    sender_id = ma.fields.Integer(allow_none=True)
    delivery_status = ma.fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    ghl_message_id = ma.fields.String(allow_none=True)
    call_duration_seconds = ma.fields.Integer(allow_none=True)
    recording_url = ma.fields.String(
        allow_none=True,
        metadata={"description": "The provider's URL; the app plays GET /api/v1/messages/:id/recording instead."},
    )
    transcript = ma.fields.String(allow_none=True, metadata={"description": "A voicemail's words, when transcribed."})
    attachments = ma.fields.List(ma.fields.Nested(AttachmentSchema))
    error_code = ma.fields.String(allow_none=True)
    error_message = ma.fields.String(allow_none=True)
    read_at = UtcDateTime(allow_none=True)
    inserted_at = UtcDateTime()
    updated_at = UtcDateTime()


class MessagePreviewSchema(OutputSchema):
    id = ma.fields.Integer()
    body = ma.fields.Function(lambda message: message.body[:160])
    direction = ma.fields.String()
    sender_type = ma.fields.String()
    delivery_status = ma.fields.String()
    inserted_at = UtcDateTime()


class ConversationSchema(OutputSchema):
    id = ma.fields.Integer()
    channel = ma.fields.String(metadata={"enum": list(CHANNELS)})
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    phone_number = ma.fields.String(allow_none=True)
    visitor_name = ma.fields.String(allow_none=True)
    visitor_email = ma.fields.String(allow_none=True)
    visitor_phone = ma.fields.String(allow_none=True)
    ghl_conversation_id = ma.fields.String(allow_none=True)
    contact_id = ma.fields.Integer(allow_none=True)
    contact = ma.fields.Nested(ContactSummarySchema, allow_none=True)
    assigned_to = ma.fields.Integer(allow_none=True)
    unread_count = ma.fields.Integer()
    last_message = ma.fields.Nested(MessagePreviewSchema, allow_none=True)
    last_message_at = UtcDateTime(allow_none=True)
    metadata = ma.fields.Dict(attribute="meta")
    inserted_at = UtcDateTime()
    updated_at = UtcDateTime()


class ConversationDetailSchema(ConversationSchema):
    messages = ma.fields.List(
        ma.fields.Nested(MessageSchema),
        metadata={"description": "The most recent messages, oldest first; page further with /messages?before=."},
    )


class ConversationListQuery(PageQuery):
    channel = ma.fields.String(validate=channel_field)
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    contact_id = QueryId()
    assigned_to = QueryId()
    search = ma.fields.String(validate=ma.validate.Length(min=1, max=SEARCH_MAX_LENGTH))
    before = ma.fields.String(
        validate=[
            ma.validate.Length(max=37),
            ma.validate.Regexp(r"^\d{1,18}_\d{1,18}$", error="Not a cursor: pass meta.next_before as it came."),
        ],
        metadata={
            "description": "The previous page's `meta.next_before`: continue after it (stable as new messages arrive)."
        },
    )


class ConversationsMetaSchema(PageMetaSchema):
    next_before = ma.fields.String(
        allow_none=True, metadata={"description": "Pass as `before` for the next (older) page; null at the end."}
    )


class ConversationCreateSchema(StrictSchema):
    channel = ma.fields.String(required=True, validate=channel_field)
    contact_id = Id()
    phone = Phone(metadata={"description": "Finds or creates the contact with this number."})
    visitor_name = ma.fields.String(validate=fits(Conversation.visitor_name))
    visitor_email = ma.fields.Email(validate=fits(Conversation.visitor_email))
    visitor_phone = Phone()
    assigned_to = Id(allow_none=True)
    metadata = JsonObject()

    @ma.validates_schema
    def one_contact_reference(self, data, **kwargs):
        if "contact_id" in data and "phone" in data:
            raise ma.ValidationError("Give contact_id or phone, not both.", "_schema")


class ConversationUpdateSchema(StrictSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    assigned_to = Id(allow_none=True)
    visitor_name = ma.fields.String(allow_none=True, validate=fits(Conversation.visitor_name))
    visitor_email = ma.fields.Email(allow_none=True, validate=fits(Conversation.visitor_email))
    visitor_phone = Phone(allow_none=True)
    metadata = JsonObject()


class AssignSchema(StrictSchema):
    user_id = Id(
        allow_none=True,
        metadata={"description": "Omit to assign to yourself; null to unassign."},
    )


MAX_MEDIA = 10  # Twilio's MediaUrl limit per message
MEDIA_URL_MAX_LENGTH = 2048  # what browsers and CDNs reliably carry


class MessageCreateSchema(StrictSchema):
    message = ma.fields.String(load_default="", validate=ma.validate.Length(max=MESSAGE_MAX_LENGTH))
    media_urls = ma.fields.List(
        ma.fields.Url(
            schemes={"https"},
            validate=ma.validate.Length(max=MEDIA_URL_MAX_LENGTH),
            error_messages={"invalid": "Not a valid https URL: media is fetched by the provider over https only."},
        ),
        load_default=list,
        validate=ma.validate.Length(max=MAX_MEDIA),
        metadata={"description": f"Up to {MAX_MEDIA} public https URLs (images, PDFs...): sent as MMS."},
    )
    upload_ids = ma.fields.List(
        Id(),
        load_default=list,
        validate=ma.validate.Length(max=MAX_MEDIA),
        metadata={"description": "Ids from POST /api/v1/uploads: sent as MMS (5 MB together)."},
    )

    @ma.validates_schema
    def has_content(self, data, **kwargs):
        if not data.get("message", "").strip() and not data.get("media_urls") and not data.get("upload_ids"):
            raise ma.ValidationError("A message needs text, media_urls or upload_ids.", "message")
        if len(data.get("media_urls", [])) + len(data.get("upload_ids", [])) > MAX_MEDIA:
            raise ma.ValidationError(f"At most {MAX_MEDIA} media_urls and upload_ids together.", "upload_ids")


class SendSchema(MessageCreateSchema):
    contact_id = Id()
    phone = Phone()
    channel = ma.fields.String(load_default="sms", validate=channel_field)

    @ma.validates_schema
    def exactly_one_recipient(self, data, **kwargs):
        if ("contact_id" in data) == ("phone" in data):
            raise ma.ValidationError("Give exactly one of contact_id or phone.", "_schema")


class MessagesQuery(PageQuery):
    before = QueryId(
        metadata={"description": "A message id: return only messages older than it (cursor for long histories)."}
    )


class SendResultSchema(OutputSchema):
    conversation = ma.fields.Nested(ConversationSchema)
    message = ma.fields.Nested(MessageSchema)
    status = ma.fields.String(metadata={"description": "The message's delivery_status."})


class ReadSchema(StrictSchema):
    up_to_message_id = Id(metadata={"description": "Mark only messages up to this one read; omit for all."})


class ReadResultSchema(OutputSchema):
    conversation_id = ma.fields.Integer()
    marked_read = ma.fields.Integer()
    unread_count = ma.fields.Integer()


class UnreadSchema(OutputSchema):
    total = ma.fields.Integer(metadata={"description": "Unread inbound messages in open and closed conversations."})
    conversations = ma.fields.Integer(metadata={"description": "Conversations with at least one unread message."})
    by_channel = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class MessagesMetaSchema(PageMetaSchema):
    next_before = ma.fields.Integer(
        allow_none=True, metadata={"description": "Pass as `before` for the previous page; null at the start."}
    )


class IdempotencyHeaders(EdgeSchema):
    """The send endpoints' retry-safety header."""

    class Meta:
        unknown = ma.EXCLUDE  # every other header

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=ma.validate.Length(max=255),
        metadata={
            "description": "Retry-safe sends: the same key within 24 hours answers with the first message "
            "(same id and status) and sends nothing new. A different request with the same key answers 409."
        },
    )

    @ma.post_load
    def blank_is_none(self, data, **kwargs):
        return {"idempotency_key": (data.get("idempotency_key") or "").strip() or None}
