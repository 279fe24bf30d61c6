"""Secret settings are used only when well formed; anything else is refused and reported, never tried.

When App Service cannot resolve a Key Vault reference (the vault is still empty after `azd up`, or the
app's identity lost access) it hands the app the reference's own text, `@Microsoft.KeyVault(...)`. That
text is public knowledge (the vault's name derives from the app's name), so a service that took it as a
signing key would accept hooks anyone can forge. Each setting that signs or authenticates has a rule here;
a refused setting makes the parts that need it stop with :class:`SecretRefused`, and the refusal (the
setting's name and why, never its value) is logged and shown on the ops page.
"""

from __future__ import annotations

import base64
import binascii
import logging
import string
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, SecretStr

from shared.graph.client import GraphClientSettings, certificate_file

if TYPE_CHECKING:  # shared.config imports the intake, which imports this module
    from shared.config import AppSettings

log = logging.getLogger(__name__)

# App Service and Functions leave these references' text in the setting when they cannot resolve them.
UNRESOLVED_REFERENCES: Final = ("@Microsoft.KeyVault(", "@Microsoft.AppConfiguration(")
HOOK_SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (a prefix) Standard Webhooks: whsec_ + base64 of the key
MIN_HOOK_KEY_BYTES: Final = 24  # Standard Webhooks: keys of 24 to 64 bytes
_PRINTABLE: Final = frozenset(string.ascii_letters + string.digits + string.punctuation)
_BASE64: Final = frozenset(string.ascii_letters + string.digits + "+/=")


class SecretRefused(RuntimeError):
    """A secret setting is set but not well formed: it is not used. The text names the setting, never its
    value."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting} refused: {problem}")
        self.setting = setting
        self.problem = problem


class SettingProblem(BaseModel):
    setting: str
    problem: str


def _reference_problem(value: str) -> str | None:
    if value.lstrip().startswith(UNRESOLVED_REFERENCES):
        return (
            "the app received an unresolved Key Vault reference instead of the secret "
            "(check that the vault holds the secret and that the app's identity may read it)"
        )
    return None


def hook_secret_problem(value: str) -> str | None:
    """Why a hook signing secret is refused (None: well formed): whsec_ + strict base64 of >= 24 bytes."""
    if found := _reference_problem(value):
        return found
    if not value.startswith(HOOK_SECRET_PREFIX):
        return f"must be {HOOK_SECRET_PREFIX} followed by the base64 of the key"
    encoded = value[len(HOOK_SECRET_PREFIX) :]
    if not encoded or not set(encoded) <= _BASE64:
        return f"the text after {HOOK_SECRET_PREFIX} is not base64"
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return f"the text after {HOOK_SECRET_PREFIX} is not valid base64"
    if len(key) < MIN_HOOK_KEY_BYTES:
        return f"the key is {len(key)} bytes; at least {MIN_HOOK_KEY_BYTES} are required"
    return None


def credential_problem(value: str) -> str | None:
    """Why an API key or client secret is refused (None: well formed): printable ASCII without spaces."""
    if found := _reference_problem(value):
        return found
    if not set(value) <= _PRINTABLE:
        # A space, line break or control character is a paste error, and would break the request header.
        return "contains whitespace, control or non-ASCII characters"
    return None


def certificate_problem(value: str) -> str | None:
    """Why a client certificate setting is refused (None: a readable file, PEM with a certificate and its
    private key, or base64 PKCS#12 as Key Vault hands it over)."""
    if found := _reference_problem(value):
        return found
    if "-----BEGIN" in value:
        if "CERTIFICATE-----" in value and "PRIVATE KEY-----" in value:
            return None
        return "PEM text must hold both the certificate and its private key"
    if len(value) < 4096 and "\n" not in value and Path(value).is_file():
        return None
    try:
        der = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        der = b""
    if len(der) < 16 or der[0] != 0x30:  # PKCS#12 is a DER SEQUENCE
        return "is neither a readable file, PEM text, nor base64 PKCS#12"
    return None


Rule = Callable[[str], "str | None"]
# alias -> (AppSettings attribute, rule)
SECRET_SETTINGS: Final[dict[str, tuple[str, Rule]]] = {
    "IBSS_HOOK_SECRET": ("ibss_hook_secret", hook_secret_problem),
    "IBSS_API_KEY": ("ibss_api_key", credential_problem),
    "GRAPH_CLIENT_SECRET": ("graph_client_secret", credential_problem),
    "GRAPH_CLIENT_CERTIFICATE": ("graph_client_certificate", certificate_problem),
}


def secret(settings: AppSettings, setting: str) -> str | None:
    """The setting's value if it is well formed, None if it is not set; raises SecretRefused otherwise."""
    attribute, rule = SECRET_SETTINGS[setting]
    value: str | None = getattr(settings, attribute)
    if not value:
        return None
    problem = rule(value)
    if problem is not None:
        raise SecretRefused(setting, problem)
    return value


def secret_or_none(settings: AppSettings, setting: str) -> str | None:
    """Like :func:`secret`, but a refused value counts as not set (for parts that are optional)."""
    try:
        return secret(settings, setting)
    except SecretRefused:
        return None


def secret_problems(settings: AppSettings) -> list[SettingProblem]:
    """Every secret setting that is set and refused, by name (the values never leave this module)."""
    problems: list[SettingProblem] = []
    for setting in SECRET_SETTINGS:
        try:
            secret(settings, setting)
        except SecretRefused as refused:
            problems.append(SettingProblem(setting=refused.setting, problem=refused.problem))
    return problems


def log_secret_problems(settings: AppSettings) -> list[SettingProblem]:
    problems = secret_problems(settings)
    for p in problems:
        log.error("secret setting refused", extra={"setting": p.setting, "problem": p.problem})
    return problems


def graph_client_settings(settings: AppSettings) -> GraphClientSettings | None:
    """How the app signs in to Graph (None: not configured); raises SecretRefused for a refused credential.
    A certificate wins over a secret when both are set (the deployment guide prefers certificates)."""
    if not (settings.graph_tenant_id and settings.graph_client_id):
        return None
    certificate = secret(settings, "GRAPH_CLIENT_CERTIFICATE")
    client_secret = None if certificate else secret(settings, "GRAPH_CLIENT_SECRET")
    if not (certificate or client_secret):
        return None
    return GraphClientSettings(
        base_url=settings.graph_base_url,
        authority=settings.graph_authority,
        tenant_id=settings.graph_tenant_id,
        client_id=settings.graph_client_id,
        client_secret=SecretStr(client_secret) if client_secret else None,
        certificate_path=certificate_file(certificate) if certificate else None,
        ca_bundle_path=Path(settings.graph_ca_bundle) if settings.graph_ca_bundle else None,
    )
