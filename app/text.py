"""Text from outside that PostgreSQL must be able to store.

PostgreSQL's text and jsonb refuse NUL ("\\u0000"), and UTF-8 cannot carry an unpaired surrogate
("\\ud800", which JSON can spell). API input holding either is refused at the edge with a 422
(app/schemas/common.py); a provider's webhook is never refused for its bytes (the customer's
message must not be lost), so its text is cleaned here, once, where the payload is read: each
such character becomes U+FFFD, the replacement character, so the reader sees something was there.
"""

import json

REPLACEMENT = "\ufffd"


def parse_json(raw: bytes | str):
    """Parse a JSON body as RFC 8259 has it: NaN and Infinity are not JSON (and jsonb refuses them).

    Raises ValueError (json.JSONDecodeError) for anything that is not strict JSON.
    """
    return json.loads(raw, parse_constant=_not_json)


def _not_json(name: str):
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def storable(text: str) -> bool:
    """Whether PostgreSQL can store `text` as it is."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> str:
    if storable(text):
        return text
    return "".join(REPLACEMENT if char == "\x00" or "\ud800" <= char <= "\udfff" else char for char in text)


def clean_payload(value):
    """`value` (parsed JSON or form fields) with every string, key or value at any depth, made storable.

    Containers are cleaned in place and without recursion: a payload nested as deep as the JSON
    parser allows must not exhaust the stack here.
    """
    if isinstance(value, str):
        return clean_text(value)
    stack = [value] if isinstance(value, dict | list) else []
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            if not all(storable(key) for key in container if isinstance(key, str)):
                items = list(container.items())
                container.clear()
                container.update((clean_text(k) if isinstance(k, str) else k, v) for k, v in items)
            entries = container.items()
        else:
            entries = enumerate(container)
        for key, item in list(entries):
            if isinstance(item, str):
                container[key] = clean_text(item)
            elif isinstance(item, dict | list):
                stack.append(item)
    return value
