"""Service-account files for tests: a fresh RSA key and a token_uri pointing at a local double."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def write_service_account(path: Path, token_uri: str, project_id: str = "canhbao-test") -> Path:
    """Write a service-account JSON file signed by a new RSA key; returns `path`.

    Only the fields google-auth reads are written: no Google URL appears in the file, so nothing
    built from it can reach Google by accident.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": f"canhbao-push@{project_id}.iam.gserviceaccount.com",
        "client_id": str(secrets.randbelow(10**21)),
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info, indent=2), encoding="utf-8")
    path.chmod(0o600)  # as a real key file should be; a test reading it stays the owner
    return path


def service_account_public_key(path: Path) -> bytes:
    """The PEM public key matching a service-account file, for checking its JWT assertions."""
    info = json.loads(path.read_text(encoding="utf-8"))
    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    return key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
