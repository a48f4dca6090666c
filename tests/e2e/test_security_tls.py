"""The tracker over HTTPS: `--tls-cert/--tls-key`, https:// lines, `--ca-cert` on clients."""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from minitorrent.driver import Client, Process, Tracker, free_port, minitorrent

from .sharing_helpers import KiB, quote, write_random


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a certificate it signed for 127.0.0.1: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def https_info(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    info = tmp_path / "tracker_info_https.txt"
    info.write_text(f"https://127.0.0.1:{port}\n")
    return info, port


def test_tracker_over_https_with_a_self_signed_ca(
    start_tracker: Callable[..., Tracker],
    start_client: Callable[..., Client],
    https_info: tuple[Path, int],
    tmp_path: Path,
) -> None:
    info, port = https_info
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    tracker = start_tracker("--tls-cert", str(cert), "--tls-key", str(key), info=info)
    assert any(f"listening on https://127.0.0.1:{port}" in line for line in tracker.lines)

    trusting = start_client("--ca-cert", str(ca), info=info)
    trusting.ok("create_user ann ann-pw")
    trusting.ok("login ann ann-pw")
    trusting.ok("create_group lab")
    data = tmp_path / "data.bin"
    write_random(data, 20 * KiB, seed=3)
    trusting.ok(f"upload_file {quote(data)} lab")  # its announces go over TLS too

    untrusting = start_client(info=info)  # the system CAs do not know ours
    untrusting.fails("login ann ann-pw", r"TLS certificate is not trusted \(see --ca-cert\)")
    with pytest.raises(httpx.HTTPError):  # no plain-HTTP answer on that port
        httpx.get(f"http://127.0.0.1:{port}/api/v1/me", timeout=5)


@pytest.mark.parametrize(
    ("https", "options", "message"),
    [
        (True, [], r"lists this tracker as https://: give --tls-cert and --tls-key"),
        (False, ["--tls-cert", "{cert}", "--tls-key", "{key}"], r"without https://"),
        (True, ["--tls-cert", "{cert}"], r"--tls-cert and --tls-key go together"),
        (True, ["--tls-cert", "{key}", "--tls-key", "{key}"], r"cannot use --tls-cert"),
    ],
)
def test_tls_misconfiguration_is_refused_at_start(
    tmp_path: Path, tracker_db: Path, https: bool, options: list[str], message: str
) -> None:
    port = free_port()
    info = tmp_path / "info.txt"
    info.write_text(f"https://127.0.0.1:{port}\n" if https else f"127.0.0.1:{port}\n")
    _, cert, key = make_ca_and_server_cert(tmp_path)
    args = [o.format(cert=cert, key=key) for o in options]
    proc = Process(minitorrent("tracker", str(info), "1", "--db", f"sqlite:///{tracker_db}", *args))
    assert proc.wait(30) != 0
    assert any(re.search(message, line) for line in proc.lines), proc.lines
