"""Local servers standing in for APNs (HTTP/2 over TLS) and FCM's HTTP v1 API, checking what we send.

The APNs stand-in verifies the provider token's ES256 signature with the public half of the test
key, the headers Apple requires and the payload, and answers as a test tells it to.
"""

import asyncio
import datetime
import ipaddress
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
TOPIC = "com.example.conversations"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it: (ca file, cert file, key file)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test push CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_text(pem(key))
    return ca_file, cert_file, key_file


class ApnsStandIn:
    """APNs' /3/device/<token> over HTTP/2 + TLS. `answer(token, 410, "Unregistered")` queues answers."""

    def __init__(self, directory: Path):
        self.signing_key = ec.generate_private_key(ec.SECP256R1())  # the team's .p8 key
        self.auth_key_pem = pem(self.signing_key)
        self.ca_file, cert_file, key_file = make_tls_files(directory)
        self.port = free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.requests: list[dict] = []
        self._answers: dict[str, list[tuple[int, str | None]]] = {}
        self._lock = threading.Lock()
        self._config = HypercornConfig()
        self._config.bind = [f"127.0.0.1:{self.port}"]
        self._config.certfile, self._config.keyfile = str(cert_file), str(key_file)
        self._config.accesslog = None
        self._config.errorlog = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stopping: asyncio.Event | None = None
        self.connections: set = set()

    def start(self) -> "ApnsStandIn":
        self._thread.start()
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stopping = asyncio.Event()
        self._loop.run_until_complete(serve(self.app, self._config, shutdown_trigger=self._stopping.wait))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._answers.clear()
            self.connections.clear()

    def answer(self, token: str, *answers: tuple[int, str | None]) -> None:
        with self._lock:
            self._answers.setdefault(token, []).extend(answers)

    def _next_answer(self, token: str) -> tuple[int, str | None]:
        with self._lock:
            queued = self._answers.get(token)
            return queued.pop(0) if queued else (200, None)

    def check(self, headers: dict, body: bytes) -> tuple[int, str | None, dict]:
        """What Apple would say about the request itself: (status, reason, the token's claims)."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "bearer":
            return 403, "MissingProviderToken", {}
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.signing_key.public_key(), algorithms=["ES256"])
        except jwt.InvalidTokenError:
            return 403, "InvalidProviderToken", {}
        if header.get("kid") != KEY_ID or claims.get("iss") != TEAM_ID:
            return 403, "InvalidProviderToken", claims
        if time.time() - claims["iat"] > 3600:
            return 403, "ExpiredProviderToken", claims
        if not headers.get("apns-topic"):
            return 400, "MissingTopic", claims
        push_type = headers.get("apns-push-type")
        if push_type not in ("alert", "background"):
            return 400, "InvalidPushType", claims
        if push_type == "background" and headers.get("apns-priority") != "5":
            return 400, "BadPriority", claims
        if len(headers.get("apns-collapse-id", "")) > 64:
            return 400, "BadCollapseId", claims
        if len(body) > 4096:
            return 413, "PayloadTooLarge", claims
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, "PayloadEmpty", claims
        if not isinstance(payload.get("aps"), dict):
            return 400, "PayloadEmpty", claims
        return 200, None, claims

    async def app(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        token = scope["path"].rsplit("/", 1)[-1]
        status, reason, claims = self.check(headers, body)
        if status == 200:
            status, reason = self._next_answer(token)
        with self._lock:
            self.connections.add(scope.get("client"))
            self.requests.append(
                {
                    "token": token,
                    "path": scope["path"],
                    "http_version": scope["http_version"],
                    "headers": headers,
                    "payload": json.loads(body) if body else None,
                    "claims": claims,
                    "jwt": headers.get("authorization", "").partition(" ")[2],
                    "status": status,
                    "at": time.time(),
                }
            )
        answer = b"" if status == 200 else json.dumps({"reason": reason}).encode()
        response_headers = [(b"apns-id", b"6e5a4a32-0000-0000-0000-000000000000")]
        if answer:
            response_headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": answer})

    def sent(self) -> list[dict]:
        """The requests Apple would have accepted as well-formed (whatever the test made it answer)."""
        return [request for request in self.requests if request["claims"]]


class FcmStandIn:
    """FCM HTTP v1's messages:send, and the Google OAuth2 token endpoint the service account uses."""

    PROJECT = "test-project"

    def __init__(self):
        self.account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.token_uri = f"{self.base_url}/token"
        self.messages: list[dict] = []
        self.tokens_issued: list[str] = []
        self._answers: dict[str, list[tuple[int, str | None]]] = {}
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/token":
                    return self._json(*standin.token(parse_qs(body.decode())))
                return self._json(*standin.send(self.path, self.headers.get("Authorization", ""), body))

            def _json(self, status, document):
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "FcmStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self._answers.clear()
            self.tokens_issued.clear()

    def service_account(self) -> dict:
        return {
            "type": "service_account",
            "project_id": self.PROJECT,
            "private_key_id": "test-key-id",
            "private_key": pem(self.account_key),
            "client_email": "push@test-project.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": self.token_uri,
        }

    def answer(self, token: str, *answers: tuple[int, str | None]) -> None:
        with self._lock:
            self._answers.setdefault(token, []).extend(answers)

    def token(self, form: dict) -> tuple[int, dict]:
        try:
            claims = jwt.decode(
                form["assertion"][0],
                self.account_key.public_key(),
                algorithms=["RS256"],
                audience="https://oauth2.googleapis.com/token",  # what Google expects, wherever token_uri points
            )
        except (KeyError, jwt.InvalidTokenError):
            return 400, {"error": "invalid_grant"}
        if "firebase.messaging" not in claims.get("scope", ""):
            return 400, {"error": "invalid_scope"}
        with self._lock:
            access = f"ya29.test-{len(self.tokens_issued) + 1}"
            self.tokens_issued.append(access)
        return 200, {"access_token": access, "expires_in": 3600, "token_type": "Bearer"}

    def send(self, path: str, authorization: str, body: bytes) -> tuple[int, dict]:
        if path != f"/v1/projects/{self.PROJECT}/messages:send":
            return 404, {"error": {"code": 404, "status": "NOT_FOUND", "message": "no such method"}}
        with self._lock:
            if authorization.removeprefix("Bearer ") not in self.tokens_issued:
                return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}
            message = json.loads(body)["message"]
            self.messages.append(message)
            queued = self._answers.get(message["token"])
            status, code = queued.pop(0) if queued else (200, None)
        if status == 200:
            return 200, {"name": f"projects/{self.PROJECT}/messages/{len(self.messages)}"}
        return status, {
            "error": {
                "code": status,
                "status": code,
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}],
            }
        }
