"""Secret settings that sign or authenticate are used only when well formed (shared/credentials.py).

The case that matters: App Service hands the app the text of a Key Vault reference it could not resolve.
That text is computable from the public app name, so a service that signed with it would accept forged
hooks. Here it is refused: the hook endpoint answers 503, the log and the ops page name the setting (never
the value), and the Graph and IBSS clients are never built with it.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel
from standardwebhooks.webhooks import Webhook

from scripts.stack import ROOT, stop_process
from shared import credentials
from shared.config import AppSettings
from shared.credentials import SecretRefused, certificate_problem, credential_problem, hook_secret_problem
from shared.ibss.intake import HookIntake, HookRejected
from shared.rooms.runtime import graph_client_settings
from shared.state.dedup import TableHookIds
from shared.storage.account import StorageAccount
from shared.worker.wiring import graph_settings, reconciler_for_current_loop
from tests.stack_fixtures import RunningHost, start_host

# What App Service leaves in the setting when the vault has no such secret yet (docs/deploy.md).
REFERENCE = "@Microsoft.KeyVault(VaultName=kv-x7k2m9q4;SecretName=ibss-hook-secret)"
GOOD_HOOK_SECRET = "whsec_" + base64.b64encode(b"a-well-formed-key-of-32-bytes!!!").decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ------------------------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    "value",
    [
        REFERENCE,
        "  " + REFERENCE,
        "@Microsoft.AppConfiguration(Endpoint=https://x.azconfig.io; Key=ibss-hook-secret)",
        "",  # only whsec_ missing below; empty means "not set" and is handled by the caller
        "secret-without-prefix-but-long-enough-1234",
        "whsec_",
        "whsec_" + _b64(b"23-bytes-are-too-short!"),
        "whsec_" + _b64(b"a-well-formed-key-of-32-bytes!!!")[:-2],  # padding cut: not strict base64
        "whsec_" + _b64(b"a-well-formed-key-of-32-bytes!!!") + "\n",
        "whsec_ " + _b64(b"a-well-formed-key-of-32-bytes!!!"),
        "whsec_" + _b64(b"a-well-formed-key-of-32-bytes!!!").replace("=", "") + "*",
    ],
)
def test_hook_secrets_that_are_not_whsec_strict_base64_of_24_bytes_are_refused(value: str) -> None:
    assert hook_secret_problem(value) is not None


@pytest.mark.parametrize("key", [b"x" * 24, b"a-well-formed-key-of-32-bytes!!!", bytes(range(64))])
def test_well_formed_hook_secrets_are_used(key: bytes) -> None:
    assert hook_secret_problem("whsec_" + _b64(key)) is None


@pytest.mark.parametrize(
    "value",
    [REFERENCE, "key with space", "key\nnewline", "key\x00nul", "schlüssel", " leading", "trailing\t"],
)
def test_api_keys_and_client_secrets_with_references_or_whitespace_are_refused(value: str) -> None:
    assert credential_problem(value) is not None


@pytest.mark.parametrize("value", ["local-dev-ibss-api-key", "Abc8Q~x.y_z-0123456789abcdefghijklmnopqr"])
def test_printable_api_keys_and_client_secrets_are_used(value: str) -> None:
    assert credential_problem(value) is None


def test_certificate_rules(tmp_path: Path) -> None:
    pem = (
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    )
    f = tmp_path / "cert.pem"
    f.write_text(pem)
    assert certificate_problem(pem) is None
    assert certificate_problem(str(f)) is None
    assert certificate_problem(_b64(b"\x30\x82\x01\x00" + b"p" * 64)) is None  # PKCS#12 from Key Vault
    assert certificate_problem(REFERENCE) is not None
    assert certificate_problem("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n") is not None
    assert certificate_problem(str(tmp_path / "missing.pem")) is not None
    assert certificate_problem(_b64(b"not a der sequence at all, just text")) is not None


def test_refusals_name_the_setting_never_the_value() -> None:
    settings = AppSettings(
        IBSS_HOOK_SECRET=REFERENCE,
        IBSS_API_KEY=REFERENCE.replace("ibss-hook-secret", "ibss-api-key"),
        GRAPH_CLIENT_SECRET=REFERENCE.replace("ibss-hook-secret", "graph-client-secret"),
        GRAPH_CLIENT_CERTIFICATE=REFERENCE.replace("ibss-hook-secret", "graph-certificate"),
    )
    problems = credentials.secret_problems(settings)
    assert sorted(p.setting for p in problems) == [
        "GRAPH_CLIENT_CERTIFICATE",
        "GRAPH_CLIENT_SECRET",
        "IBSS_API_KEY",
        "IBSS_HOOK_SECRET",
    ]
    text = json.dumps([p.model_dump() for p in problems])
    assert "VaultName" not in text
    assert "kv-x7k2m9q4" not in text


# ------------------------------------------------------------------------ Graph and IBSS credentials


def _graph(**extra: str) -> AppSettings:
    return AppSettings(GRAPH_TENANT_ID="t", GRAPH_CLIENT_ID="c", **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("setting", ["GRAPH_CLIENT_SECRET", "GRAPH_CLIENT_CERTIFICATE"])
def test_a_refused_graph_credential_is_never_handed_to_the_client(setting: str) -> None:
    settings = _graph(**{setting: REFERENCE})
    with pytest.raises(SecretRefused) as refused:
        graph_settings(settings)  # the workers: the job fails and is retried, then poisoned with the reason
    assert refused.value.setting == setting
    assert "VaultName" not in str(refused.value)
    assert graph_client_settings(settings) is None  # the rooms service: left out, as if not configured


def test_a_well_formed_graph_secret_is_used() -> None:
    built = graph_settings(_graph(GRAPH_CLIENT_SECRET="local-dev-secret-not-for-production"))
    assert built.client_secret is not None
    assert built.client_secret.get_secret_value() == "local-dev-secret-not-for-production"


def _refused_ibss_key() -> AppSettings:
    """Graph well configured, the IBSS API key an unresolved reference."""
    return _graph(
        GRAPH_CLIENT_SECRET="local-dev-secret-not-for-production",
        IBSS_BASE_URL="http://127.0.0.1:9",
        IBSS_API_KEY=REFERENCE,
    )


async def test_a_refused_ibss_api_key_is_never_handed_to_the_client(storage: StorageAccount) -> None:
    with pytest.raises(SecretRefused) as refused:
        reconciler_for_current_loop(_refused_ibss_key(), storage)
    assert refused.value.setting == "IBSS_API_KEY"


# ------------------------------------------------------------------------------------ hook intake


class _Sink:
    def __init__(self) -> None:
        self.sent: list[BaseModel] = []

    async def send(self, queue: str, message: BaseModel) -> None:
        self.sent.append(message)


def _signed(body: bytes, key: str) -> dict[str, str]:
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(key).sign(msg_id, now, body.decode()),
    }


def _body() -> bytes:
    data = {"Booking_Id": f"bk-{uuid.uuid4().hex}", "Node_Id": 1001, "Space_Id": "HQ-1-AURORA"}
    return json.dumps({"type": "booking.updated", "timestamp": "2030-01-08T09:00:00Z", "data": data}).encode()


@pytest.fixture
async def storage(storage_connection: str) -> AsyncIterator[StorageAccount]:
    account = StorageAccount.from_settings(AppSettings(AzureWebJobsStorage=storage_connection))
    yield account
    await account.close()


@pytest.mark.parametrize(
    "configured", [REFERENCE, "whsec_" + _b64(b"short"), "not-a-whsec-secret-at-all-123456"]
)
async def test_a_hook_signed_with_a_refused_secret_is_a_503_and_enqueues_nothing(
    storage: StorageAccount, configured: str
) -> None:
    # The forger signs with the very text the app was given (the library takes any string as a key).
    sink = _Sink()
    intake = HookIntake(secret=configured, seen=TableHookIds(storage), sink=sink)
    body = _body()
    with pytest.raises(HookRejected) as rejected:
        await intake.accept(body, _signed(body, configured))
    assert rejected.value.status == 503
    assert sink.sent == []


# ------------------------------------------------------------------------------------ on the dev host


@pytest.fixture(scope="module")
def refused_host(storage_connection: str) -> Iterator[RunningHost]:
    host = start_host(ROOT / "function_app.py", storage_connection, {"IBSS_HOOK_SECRET": REFERENCE})
    try:
        yield host
    finally:
        stop_process(host.proc)


def test_the_host_refuses_hooks_and_reports_the_setting(refused_host: RunningHost) -> None:
    body = _body()
    r = httpx.post(refused_host.url("ibss/hooks", key=False), content=body, headers=_signed(body, REFERENCE))
    assert r.status_code == 503
    assert "VaultName" not in r.text

    health = httpx.get(refused_host.url("health", key=False)).json()
    assert health["status"] == "degraded"
    assert health["settings_refused"] == ["IBSS_HOOK_SECRET"]

    overview = httpx.get(refused_host.url("ops/overview")).json()
    assert [p["setting"] for p in overview["setting_problems"]] == ["IBSS_HOOK_SECRET"]
    assert "Key Vault reference" in overview["setting_problems"][0]["problem"]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("IBSS_HOOK_SECRET" in x for x in refused_host.log.since(0)):
        time.sleep(0.1)
    lines = refused_host.log.since(0)
    assert any("secret setting refused" in line and "IBSS_HOOK_SECRET" in line for line in lines)
    assert not any("VaultName" in line or "kv-x7k2m9q4" in line for line in lines)


async def test_with_a_refused_ibss_key_delta_rounds_fail_instead_of_being_consumed_unsynced(
    storage: StorageAccount,
) -> None:
    # A round the reconciler never saw must not store its deltaLink: the sink raises, the round is read
    # again once the key resolves.
    from shared.wiring import _room_sink  # noqa: PLC0415 - the composition root's choice is under test

    sink = _room_sink(_refused_ibss_key(), storage)
    assert sink is not None
    with pytest.raises(SecretRefused):
        await sink.room_changed("room@contoso.example", [], [], full_resync=False)
