"""The /api/v1 REST API: flask-smorest blueprints, bearer auth, OpenAPI from the same schemas."""

import json

import flask_smorest
import marshmallow as ma
from flask import Flask
from flask_smorest import Api
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter

from app.schemas.common import MAX_ID
from app.text import parse_json


class JsonParser(FlaskParser):
    """webargs' parser, stricter: NaN/Infinity (not JSON) and a body nested too deep to parse are
    malformed JSON (400), not a 500 from PostgreSQL or the stack."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        try:
            return parse_json(req.get_data(cache=True))
        except RecursionError as exc:
            raise json.JSONDecodeError("Nested too deeply.", doc="-", pos=0) from exc


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, with query strings held to the schema's `unknown = RAISE` too.

    webargs ignores unknown query parameters by default, so `?chanel=sms` would silently list
    everything; `unknown=None` makes it defer to each schema's Meta (StrictSchema, QuerySchema).
    """

    ARGUMENTS_PARSER = JsonParser(unknown=None)

    def arguments(self, schema, *args, **kwargs):
        # webargs builds a new instance of a schema class for every request; one per route does the
        # same work (loading keeps no state on the instance).
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Stable, machine-readable: `not_found`..."})
    message = ma.fields.String(required=True, metadata={"description": "For people; may change."})
    fields = ma.fields.Dict(
        required=True, metadata={"description": "Messages per input field at fault; empty when none is."}
    )


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorDetailSchema, required=True)


class IdConverter(IntegerConverter):
    """`<id:...>` in a route: a positive bigint, so a 30-digit id is a plain 404, not a database error."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=MAX_ID)


class ConversationsApi(Api):
    ERROR_SCHEMA = ErrorSchema  # documents the envelope app.errors actually answers with


def register_api(app: Flask) -> None:
    # One Api (and OpenAPI spec) per app, so create_app() can build a second app in the same
    # process (tests, the migration check). Bearer auth is attached to each blueprint at import.
    from app.api import (
        account,
        calls,
        contacts,
        conversations,
        devices,
        docs,
        events,
        login,
        media,
        settings,
        uploads,
        users,
    )
    from app.api.error_docs import document_errors

    api = ConversationsApi(
        spec_kwargs={
            "info": {
                "description": "One inbox for SMS, voice, WhatsApp and web chat. Send `Authorization: Bearer <token>`."
            },
            "security": [{"bearerAuth": []}],
        }
    )
    app.url_map.converters["id"] = IdConverter
    api.init_app(app)
    api.register_converter(IdConverter, lambda converter: {"type": "integer", "minimum": 1, "maximum": MAX_ID})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.register_blueprint(login.blp, url_prefix="/api/v1/auth")
    for module in (account, calls, contacts, conversations, devices, events, media, settings, uploads, users):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    document_errors(api)
    app.register_blueprint(docs.blp)  # plain Flask: not part of the documented API
    app.register_blueprint(media.links)  # signed media links: no bearer header
    app.register_blueprint(uploads.files)  # uploads' public URLs, for providers
