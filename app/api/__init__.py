"""The /api/v1 REST API: flask-smorest blueprints, bearer auth, OpenAPI from the same schemas."""

import marshmallow as ma
from flask import Flask
from flask_smorest import Api

from app.api.auth import require_bearer_token


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    fields = ma.fields.Dict()


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorDetailSchema, required=True)


class ConversationsApi(Api):
    ERROR_SCHEMA = ErrorSchema  # documents the envelope app.errors actually answers with


api = ConversationsApi(
    spec_kwargs={
        "info": {
            "description": "One inbox for SMS, voice, WhatsApp and web chat. Send `Authorization: Bearer <token>`."
        },
        "security": [{"bearerAuth": []}],
    }
)


def register_api(app: Flask) -> None:
    from app.api import account, contacts, conversations, login, users

    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.register_blueprint(login.blp, url_prefix="/api/v1/auth")
    for module in (account, contacts, conversations, users):
        module.blp.before_request(require_bearer_token)
        api.register_blueprint(module.blp, url_prefix="/api/v1")
