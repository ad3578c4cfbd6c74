"""Provider signature checks. Each answers True or False and never raises on bad input."""

import base64
import binascii
from functools import cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from twilio.request_validator import RequestValidator


def twilio_signature_valid(auth_token: str, url: str, params: dict, signature: str, raw_body: bytes) -> bool:
    """X-Twilio-Signature, checked by the official validator (it compares in constant time).

    JSON bodies are signed through the `bodySHA256` query parameter, over the raw body.
    """
    validator = RequestValidator(auth_token)
    if "bodySHA256" in url:
        return validator.validate(url, raw_body.decode("utf-8", "replace"), signature)
    return validator.validate(url, params, signature)


def ghl_signature_valid(raw_body: bytes, headers, *, ed25519_key: str, rsa_key: str) -> bool:
    """X-GHL-Signature (Ed25519, current) or x-wh-signature (RSA-SHA256, older), whichever is present."""
    if signature := headers.get("X-GHL-Signature"):
        key = _public_key(ed25519_key)
        return isinstance(key, ed25519.Ed25519PublicKey) and _verify(lambda sig: key.verify(sig, raw_body), signature)
    if signature := headers.get("x-wh-signature"):
        key = _public_key(rsa_key)
        return isinstance(key, rsa.RSAPublicKey) and _verify(
            lambda sig: key.verify(sig, raw_body, padding.PKCS1v15(), hashes.SHA256()), signature
        )
    return False


def _verify(check, signature_b64: str) -> bool:
    try:
        check(base64.b64decode(signature_b64, validate=True))
        return True
    except (InvalidSignature, binascii.Error, ValueError):
        return False


@cache
def _public_key(text: str):
    """A public key given as PEM, or as base64 DER (SubjectPublicKeyInfo), as GHL publishes them."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return load_pem_public_key(text.encode())
    return load_der_public_key(base64.b64decode(text))
