"""Client-credentials token endpoint (HTTPS, self-signed) and bearer-token checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.graph.errors import GraphError
from emulators.graph.state import EmulatorState

GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def make_tls_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 (azure-identity insists on https)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "graph-emulator-ca.pem", directory / "graph-emulator-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(state: EmulatorState, client_id: str, roles: list[str], lifetime: int) -> str:
    app = state.app(client_id)
    now = int(time.time())  # real time: azure-identity caches tokens by the real clock
    claims = {
        "aud": GRAPH_AUDIENCE,
        "iss": f"https://sts.windows.net/{state.tenant.tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "appid": client_id,
        "appidacr": "1",
        "idtyp": "app",
        "oid": app.service_principal_id if app else str(uuid.uuid4()),
        "sub": app.service_principal_id if app else str(uuid.uuid4()),
        "tid": state.tenant.tenant_id,
        "roles": roles,
        "ver": "1.0",
        "uti": uuid.uuid4().hex,
    }
    header = {"typ": "JWT", "alg": "HS256", "kid": "graph-emulator"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = hmac.new(state.signing_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


@dataclass
class Caller:
    app_id: str
    service_principal_id: str
    roles: list[str]
    mailbox_scope: list[str] | None


def _unauthorized(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        {
            "WWW-Authenticate": 'Bearer realm="", '
            'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
            f'client_id="{GRAPH_APP_ID}"'
        },
    )


def verify_bearer(state: EmulatorState, authorization: str | None) -> Caller:
    if not authorization or not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
        raise _unauthorized("Access token is empty.")
    token = authorization[7:].strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise _unauthorized("IDX14100: JWT is not well formed, there are no dots (.).")
    expected = hmac.new(state.signing_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        sig_ok = hmac.compare_digest(expected, _unb64(parts[2]))
        claims: dict[str, Any] = json.loads(_unb64(parts[1]))
    except (ValueError, json.JSONDecodeError):
        raise _unauthorized("Access token validation failure.") from None
    if not sig_ok:
        raise _unauthorized("Access token validation failure. Invalid signature.")
    if claims.get("aud") not in (GRAPH_AUDIENCE, GRAPH_AUDIENCE + "/", GRAPH_APP_ID):
        raise _unauthorized("Access token validation failure. Invalid audience.")
    if claims.get("tid") != state.tenant.tenant_id:
        raise _unauthorized("Access token validation failure. Invalid issuer.")
    if int(claims.get("exp", 0)) <= time.time():
        raise _unauthorized("Lifetime validation failed, the token is expired.")
    app = state.app(str(claims.get("appid")))
    if app is None:
        raise _unauthorized("Access token validation failure. Unknown application.")
    return Caller(app.client_id, app.service_principal_id, list(claims.get("roles") or []), app.mailbox_scope)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": error,
            "error_description": description,
            "error_codes": [int(m.group(1))] if (m := re.match(r"AADSTS(\d+)", description)) else [],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status_code=status,
    )


def token_app(state_ref: Any) -> Starlette:
    """``state_ref()`` returns the current state (it is swapped on tenant reload)."""

    def authority(request: Request) -> str:
        return f"https://{request.headers.get('host', 'localhost')}"

    async def openid(request: Request) -> JSONResponse:
        tenant = request.path_params["tenant"]
        base = f"{authority(request)}/{tenant}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{authority(request)}/{tenant}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "tenant_region_scope": "EU",
            }
        )

    async def token(request: Request) -> JSONResponse:
        state: EmulatorState = state_ref()
        tenant = request.path_params["tenant"]
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if tenant not in (state.tenant.tenant_id, state.tenant.domain, "organizations"):
            return _oauth_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type."
            )
        client_id = str(form.get("client_id") or "")
        app = state.app(client_id)
        if app is None:
            return _oauth_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found.",
            )
        scope = str(form.get("scope") or "")
        if not scope.endswith("/.default"):
            return _oauth_error(
                400,
                "invalid_scope",
                "AADSTS1002012: The provided value for scope is not valid. Client "
                "credential flows must have a scope value with /.default.",
            )
        if form.get("client_assertion"):
            return _oauth_error(
                401,
                "invalid_client",
                "AADSTS7000000: Certificate credentials are not emulated; use a client secret.",
            )
        if not app.client_secret or not hmac.compare_digest(
            str(form.get("client_secret") or ""), app.client_secret
        ):
            return _oauth_error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent is correct.",
            )
        lifetime = state.config.token_lifetime_seconds
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": issue_token(state, client_id, list(app.roles), lifetime),
            }
        )

    return Starlette(
        routes=[
            Route("/{tenant}/v2.0/.well-known/openid-configuration", openid, methods=["GET"]),
            Route("/{tenant}/.well-known/openid-configuration", openid, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        ]
    )
