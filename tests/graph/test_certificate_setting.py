"""GRAPH_CLIENT_CERTIFICATE: a path locally, the certificate itself when Key Vault fills the setting."""

import base64
import stat
from pathlib import Path

from shared.graph.client import certificate_file

PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
)


def test_a_path_is_used_as_it_is(tmp_path: Path) -> None:
    f = tmp_path / "cert.pem"
    f.write_text(PEM)
    assert certificate_file(str(f)) == f


def test_pem_text_is_written_to_a_private_file() -> None:
    path = certificate_file(PEM)
    assert path.read_text() == PEM
    assert path.suffix == ".pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_base64_pkcs12_from_key_vault_is_decoded() -> None:
    pfx = b"\x30\x82\x01\x00fake-pkcs12-bytes"
    path = certificate_file(base64.b64encode(pfx).decode())
    assert path.read_bytes() == pfx
    assert path.suffix == ".pfx"
