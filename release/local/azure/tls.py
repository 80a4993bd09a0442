"""The local Azure's certificate: one self-signed certificate for 127.0.0.1, made at ``up``
and shared by the Azure endpoints and the ACR registry. Clients trust it through its file
(``REQUESTS_CA_BUNDLE``); dockerd through ``/etc/docker/certs.d/<host:port>/ca.crt``."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import ssl
import urllib.error
import urllib.request
from pathlib import Path

CERT_FILE = "azure-ca.crt"
KEY_FILE = "azure-ca.key"
CERTS_D = Path("/etc/docker/certs.d")
LIFETIME = datetime.timedelta(days=30)


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    """The certificate and key in ``directory``, made when missing or within a day of expiry."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc - now > datetime.timedelta(days=1):
            return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "release local azure")])
    made = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + LIFETIME)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(made.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def trust_for_docker(address: str, cert: Path, certs_d: Path = CERTS_D) -> None:
    """Make dockerd trust ``cert`` for the registry at ``address`` (host:port)."""
    folder = certs_d / address
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cert, folder / "ca.crt")


def untrust_for_docker(address: str, certs_d: Path = CERTS_D) -> None:
    """Remove what :func:`trust_for_docker` wrote (the folder too, when left empty)."""
    folder = certs_d / address
    (folder / "ca.crt").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def answers(url: str, cert: Path, timeout: float = 2.0) -> bool:
    """True when ``url`` answers over TLS verified with ``cert`` (any HTTP status)."""
    context = ssl.create_default_context(cafile=str(cert))
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context):  # noqa: S310
            return True
    except urllib.error.HTTPError as exc:
        exc.close()
        return True
    except (OSError, ValueError):
        return False
