"""TLS: the facts of a server's handshake and of its leaf certificate.

The certificate is read, never verified against a trust store (SEPM's is self-signed by
design): the standard library decodes only verified certificates, so its DER is parsed
with ``cryptography``, the one module of ``net/`` that imports it.
"""

from __future__ import annotations

import ssl
import warnings

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.utils import CryptographyDeprecationWarning

from sepcheck.net.app.conn import close_stream, open_stream
from sepcheck.net.app.facts import AppFailure, FailureKind, TlsFacts


def tls_facts(ssl_object: ssl.SSLObject) -> TlsFacts:
    """The facts of a completed handshake: its protocol and cipher, and its certificate."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise AppFailure(FailureKind.TLS, "the server sent no certificate")
    cipher = ssl_object.cipher()
    return certificate_facts(
        der,
        protocol=ssl_object.version() or "unknown",
        cipher=cipher[0] if cipher else "unknown",
    )


def certificate_facts(der: bytes, *, protocol: str, cipher: str) -> TlsFacts:
    """The facts of the DER certificate ``der``, seen in a handshake of ``protocol`` and
    ``cipher``. A certificate OpenSSL accepted but cryptography cannot read (its parser is
    stricter: a malformed name, a bad time) is a TLS failure that says so."""
    try:
        with warnings.catch_warnings():
            # cryptography warns of what RFC 5280 forbids but it still parses (a serial
            # that is not positive): the check reads such a certificate as it is, and the
            # engine prints nothing.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return _facts(x509.load_der_x509_certificate(der), protocol, cipher)
    except (ValueError, x509.InvalidVersion) as error:
        raise AppFailure(FailureKind.TLS, f"certificate not readable: {error}") from error


def _facts(cert: x509.Certificate, protocol: str, cipher: str) -> TlsFacts:
    subject, issuer = cert.subject, cert.issuer
    key_type, key_bits = _key(cert)
    return TlsFacts(
        protocol=protocol,
        cipher=cipher,
        subject=subject.rfc4514_string(),
        issuer=issuer.rfc4514_string(),
        self_signed=subject == issuer and _signed_by_itself(cert),
        key_type=key_type,
        key_bits=key_bits,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def _signed_by_itself(cert: x509.Certificate) -> bool:
    """Whether ``cert``'s signature verifies with its own public key (False when its key
    or signature algorithm is one cryptography cannot check)."""
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    """The public key's type and size in bits (the curve's for EC, None for EdDSA);
    ("unknown", None) for a key cryptography does not support (GOST, SM2)."""
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return "unknown", None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", None
    return type(key).__name__, None


async def tls_handshake(address: str, port: int, server_name: str | None = None) -> TlsFacts:
    """Connect, complete a TLS handshake (SNI from ``server_name`` when it is a name) and
    close: the handshake's facts. No application data is sent."""
    _, writer, facts = await open_stream(address, port, tls=True, server_name=server_name)
    await close_stream(writer)
    assert facts is not None  # open_stream with tls returns them or raises
    return facts
