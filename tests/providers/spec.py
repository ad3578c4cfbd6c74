"""Check the HTTP requests our adapters make against the providers' official OpenAPI specs.

The specs are unmodified copies in /work/shared/specs (see SOURCES.md), located relative to the
repository or through the SPECS_DIR environment variable. OpenAPI 3.0 schemas (with `nullable`)
are validated with openapi-schema-validator's OAS30Validator; `$ref`s, local or into another
file, resolve through one `referencing` registry.
"""

import copy
import json
import os
import re
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

_BASE_URI = "https://specs.invalid/"  # a name for the registry, never fetched

# Where a spec's cross-file $ref points, relative to its own folder, and the copy we hold instead:
# GHL's files live in apps/ and common/ upstream, side by side in specs/ghl/ here.
_ALIASES = {"common/common-schemas.json": "ghl/common-schemas.json"}


def specs_dir() -> Path:
    default = Path(__file__).resolve().parents[3] / "shared" / "specs"  # /work/main/tests/providers -> /work/shared
    if default.is_dir():
        return default
    if os.environ.get("SPECS_DIR"):
        return Path(os.environ["SPECS_DIR"])
    raise FileNotFoundError(f"Provider specs not found at {default}; set SPECS_DIR to the specs folder.")


@cache
def load(name: str) -> dict:
    return json.loads((specs_dir() / name).read_text())


@cache
def registry() -> Registry:
    names = ("ghl/conversations.json", "ghl/contacts.json", "ghl/common-schemas.json", "twilio/twilio_api_v2010.json")
    files = {name: name for name in names} | _ALIASES  # registry URI -> file under specs_dir()
    resources = [
        (_BASE_URI + uri, Resource.from_contents(load(name), default_specification=DRAFT4))
        for uri, name in files.items()
    ]
    return Registry().with_resources(resources)


def operation(spec: str, operation_id: str) -> tuple[str, str, dict, list]:
    """(method, path template, operation, parameters incl. path-level ones) for an operationId."""
    for path, item in load(spec)["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return method.upper(), path, op, item.get("parameters", []) + op.get("parameters", [])
    raise LookupError(f"{operation_id} is not in {spec}")


def _absolute_refs(node, base: str):
    """Copy of a schema taken out of its document, with every $ref made absolute against that document."""
    if isinstance(node, dict):
        return {k: urljoin(base, v) if k == "$ref" else _absolute_refs(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute_refs(v, base) for v in node]
    return node


def _resolve(schema: dict, base: str) -> tuple[dict, str]:
    """Follow a top-level $ref, returning the target schema and the URI of its document."""
    while "$ref" in schema:
        uri = urljoin(base, schema["$ref"])
        schema = registry().resolver().lookup(uri).contents
        base = uri.split("#")[0]
    return schema, base


def validate(instance, schema: dict, base: str, *, ignore_required=(), closed=False) -> None:
    """Validate against a schema from the document at `base`.

    ignore_required: property names the spec lists as required that a test knowingly omits (say why).
    closed: also refuse properties the schema does not declare (catches misspelt parameter names).
    """
    schema, base = _resolve(schema, base)
    schema = copy.deepcopy(schema)
    if ignore_required:
        schema["required"] = [name for name in schema.get("required", []) if name not in ignore_required]
    if closed:
        schema["additionalProperties"] = False
    validator = OAS30Validator(_absolute_refs(schema, base), registry=registry(), format_checker=oas30_format_checker)
    validator.validate(instance)


def _coerce(value: str, schema: dict):
    """Form and query values arrive as strings; the spec types them."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _form_instance(pairs: dict[str, list[str]], schema: dict, base: str) -> dict:
    """A form body as the schema sees it: arrays for repeated parameters (MediaUrl), scalars otherwise."""
    properties = _resolve(schema, base)[0].get("properties", {})
    instance = {}
    for name, values in pairs.items():
        prop = _resolve(properties.get(name, {}), base)[0]
        if prop.get("type") == "array":
            instance[name] = [_coerce(v, prop.get("items", {})) for v in values]
        else:
            assert len(values) == 1, f"{name} sent {len(values)} times but is not an array"
            instance[name] = _coerce(values[0], prop)
    return instance


def assert_matches(spec: str, operation_id: str, request, *, ignore_required=()) -> None:
    """Assert a captured `requests` PreparedRequest is a valid call of the spec's operation.

    Checks the method, the path against the template, every declared path/query/header parameter,
    and the body against the requestBody schema for the request's media type (closed: no
    undeclared fields).
    """
    method, template, op, parameters = operation(spec, operation_id)
    base = _BASE_URI + spec
    assert request.method == method, f"{operation_id} is {method}, not {request.method}"
    url = urlsplit(request.url)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    match = re.fullmatch(pattern, url.path)
    assert match, f"{url.path} does not match {template}"
    sources = {
        "path": match.groupdict(),
        "query": {k: v[0] for k, v in parse_qs(url.query).items()},
        "header": {k.lower(): v for k, v in request.headers.items()},
    }
    for param in parameters:
        param, _ = _resolve(param, base)
        where, name = param["in"], param["name"]
        values = sources.get(where, {})
        key = name.lower() if where == "header" else name
        if key not in values:
            assert not param.get("required"), f"required {where} parameter {name} is missing"
            continue
        validate(_coerce(values[key], param.get("schema", {})), param.get("schema", {}), base)
    declared_query = {p["name"] for p in parameters if p.get("in") == "query"}
    assert set(sources["query"]) <= declared_query, (
        f"undeclared query parameters {set(sources['query']) - declared_query}"
    )
    body = op.get("requestBody")
    if body is None:
        assert not request.body, f"{operation_id} takes no body"
        return
    media_type = request.headers.get("Content-Type", "").split(";")[0]
    assert media_type in body["content"], f"{operation_id} does not accept {media_type}"
    schema = body["content"][media_type]["schema"]
    raw = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
    if media_type == "application/json":
        instance = json.loads(raw)
    else:
        instance = _form_instance(parse_qs(raw, keep_blank_values=True), schema, base)
    validate(instance, schema, base, ignore_required=ignore_required, closed=True)
