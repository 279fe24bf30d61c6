"""Build an msgraph-sdk ``GraphServiceClient`` from settings (production and local emulator)."""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx
from azure.identity.aio import CertificateCredential, ClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RetryHandler
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as sdk_default_options
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def certificate_file(value: str) -> Path:
    """The certificate as a file azure-identity can read.

    `GRAPH_CLIENT_CERTIFICATE` is a path locally; in Azure a Key Vault reference puts the certificate itself
    in the setting (base64 PKCS#12, or PEM text), which is written once to a private temporary file.
    """
    if "-----BEGIN" not in value and len(value) < 4096 and Path(value).is_file():
        return Path(value)
    data = value.encode() if "-----BEGIN" in value else base64.b64decode(value, validate=False)
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = (
        Path(tempfile.gettempdir()) / f"graph-credential-{digest}.{'pem' if b'-----BEGIN' in data else 'pfx'}"
    )
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return path


class GraphClientSettings(BaseModel):
    """Where Graph and Entra ID live and how the app authenticates (secret or certificate)."""

    model_config = ConfigDict(frozen=True)

    base_url: str = "https://graph.microsoft.com/v1.0"
    authority: str = "https://login.microsoftonline.com"
    tenant_id: str
    client_id: str
    client_secret: SecretStr | None = None
    certificate_path: Path | None = None
    ca_bundle_path: Path | None = None  # local HTTPS token endpoints with a self-signed cert
    scopes: tuple[str, ...] = (GRAPH_SCOPE,)
    max_retries: int = Field(3, ge=0, le=10)
    retry_delay_seconds: float = Field(3.0, ge=0, le=180)
    timeout_seconds: float = Field(30.0, gt=0)
    # None: kiota's RetryHandler as shipped. A number: retry only when the wait (Retry-After, or the
    # backoff when there is none) is at most this many seconds; a longer 429/503 is returned to the
    # caller at once, so queue workers can re-enqueue with a delay instead of sleeping.
    max_retry_after_seconds: float | None = Field(None, ge=0, le=180)

    @model_validator(mode="after")
    def _one_credential(self) -> GraphClientSettings:
        if (self.client_secret is None) == (self.certificate_path is None):
            raise ValueError("set exactly one of client_secret or certificate_path")
        return self


class BoundedRetryHandler(RetryHandler):
    """kiota's RetryHandler that never waits longer than ``max_wait_seconds`` per retry.

    Also reads decimal ``Retry-After`` values (Graph sends e.g. ``2.128``; kiota 1.16 parses integers
    or HTTP dates only and falls back to its backoff for anything else).
    """

    def __init__(self, options: RetryHandlerOption, max_wait_seconds: float) -> None:
        super().__init__(options)
        self.max_wait_seconds = max_wait_seconds

    def get_delay_time(
        self,
        retry_count: int,
        response: httpx.Response | None = None,
        delay: float = RetryHandlerOption.DEFAULT_DELAY,
    ) -> float:
        wait = super().get_delay_time(retry_count, response, delay)
        # RetryHandler.send does not retry when the delay reaches MAX_DELAY: the response goes back.
        return wait if wait <= self.max_wait_seconds else RetryHandlerOption.MAX_DELAY

    def _parse_retry_after(self, retry_after: str) -> float | None:
        try:
            return max(0.0, float(retry_after.strip()))
        except ValueError:
            return super()._parse_retry_after(retry_after)


def build_credential(settings: GraphClientSettings) -> ClientSecretCredential | CertificateCredential:
    """An async azure-identity credential; the caller closes it (``await credential.close()``)."""
    kwargs: dict[str, Any] = {"authority": settings.authority}
    if settings.ca_bundle_path is not None:
        # A local authority is not a known cloud: skip discovery and trust its certificate.
        kwargs["disable_instance_discovery"] = True
        kwargs["connection_verify"] = str(settings.ca_bundle_path)
    if settings.client_secret is not None:
        return ClientSecretCredential(
            settings.tenant_id, settings.client_id, settings.client_secret.get_secret_value(), **kwargs
        )
    assert settings.certificate_path is not None
    return CertificateCredential(
        settings.tenant_id, settings.client_id, str(settings.certificate_path), **kwargs
    )


def build_graph_client(
    settings: GraphClientSettings,
    credential: ClientSecretCredential | CertificateCredential | None = None,
) -> GraphServiceClient:
    """A GraphServiceClient whose only differences from the default are base URL, credential, retries."""
    credential = credential or build_credential(settings)
    auth = AzureIdentityAuthenticationProvider(credential, scopes=list(settings.scopes))
    retry = RetryHandlerOption(
        delay=settings.retry_delay_seconds,
        max_retries=settings.max_retries,
        should_retry=settings.max_retries > 0,
    )
    http_client = KiotaClientFactory.get_default_client()
    http_client.timeout = settings.timeout_seconds
    options = {**sdk_default_options, RetryHandlerOption.get_key(): retry}
    if settings.max_retry_after_seconds is None:
        http_client = GraphClientFactory.create_with_default_middleware(client=http_client, options=options)
    else:
        # The default pipeline with the retry handler swapped for the bounded one.
        middleware = KiotaClientFactory.get_default_middleware(options)
        middleware = [
            BoundedRetryHandler(retry, settings.max_retry_after_seconds) if isinstance(m, RetryHandler) else m
            for m in middleware
        ]
        middleware.append(GraphClientFactory._get_telemetry_handler(options))
        http_client = GraphClientFactory.create_with_custom_middleware(middleware, client=http_client)
    http_client.base_url = settings.base_url
    adapter = GraphRequestAdapter(auth, client=http_client)
    adapter.base_url = settings.base_url
    return GraphServiceClient(request_adapter=adapter)
