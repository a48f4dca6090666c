"""TLS for the tracker's HTTP API: the tracker's certificate, and what clients trust.

Without TLS, passwords, session tokens and passkeys cross the network in clear
text (docs/security.md). Peer-to-peer BitTorrent traffic is never encrypted.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from minitorrent.errors import ConfigError


@dataclass(frozen=True)
class ServerTls:
    """The tracker's certificate chain and private key (PEM files)."""

    cert: Path
    key: Path

    def check(self) -> None:
        """Load both now, so a wrong file is reported at start, not at the first client."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.cert, self.key)
        except FileNotFoundError as exc:
            raise ConfigError(f"TLS file '{exc.filename}' does not exist") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot use --tls-cert {self.cert} with --tls-key {self.key}: {exc}"
            ) from None


def client_context(ca_cert: Path | None = None) -> ssl.SSLContext:
    """Verify trackers against the system's CAs, plus `ca_cert` (a self-signed CA)."""
    context = ssl.create_default_context()
    if ca_cert is not None:
        try:
            context.load_verify_locations(cafile=ca_cert)
        except FileNotFoundError:
            raise ConfigError(f"--ca-cert file '{ca_cert}' does not exist") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--ca-cert {ca_cert} is not a PEM certificate: {exc}") from None
    return context
