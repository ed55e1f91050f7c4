"""The offline flow: a CSR carried to the administrator, and the certificate carried back.

``create_pending_request`` makes a new key and its CSR. The key waits in
``private/pending-key.pem`` and the current key and certificate, if any, stay
in use. ``install_certificate`` takes the file that ``hostca cert sign`` wrote,
checks that it certifies the pending key and that a trusted CA issued it, then
commits key and certificate together and deletes the pending key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from hostca.agent import clock
from hostca.agent.certificates import (
    IssuedCertificate,
    certificate_names,
    check_issuer,
    format_serial_number,
    host_id_of,
    load_ca_bundle,
    same_public_key,
)
from hostca.agent.csr import build_csr, serialize_private_key
from hostca.agent.enroll import DEFAULT_KEY_TYPE
from hostca.agent.state import Identity, StateDir
from hostca.core.errors import ConflictError, InvalidRequestError, NotFoundError
from hostca.core.keys import generate_private_key

__all__ = [
    "CsrRequest",
    "PendingRequest",
    "create_pending_request",
    "install_certificate",
    "key_type_of",
]


@dataclass(frozen=True)
class CsrRequest:
    """The options of one ``hostca agent csr`` run."""

    primary_name: str
    aliases: tuple[str, ...] = field(default_factory=tuple)
    key_type: str = DEFAULT_KEY_TYPE


@dataclass(frozen=True)
class PendingRequest:
    """A CSR whose key waits in the state directory for its certificate."""

    csr_pem: bytes
    names: tuple[str, ...]
    key_file: Path
    replaced_pending_key: bool


def create_pending_request(state: StateDir, request: CsrRequest) -> PendingRequest:
    """Make a new key, store it as the pending key and return its CSR.

    A pending key from an earlier run is replaced, so only the newest CSR can
    be installed. The current key and certificate are not touched.
    """
    private_key = generate_private_key(request.key_type)
    csr = build_csr(private_key, request.primary_name, request.aliases)
    replaced = state.pending_key_file.exists()

    state.write_pending_key(serialize_private_key(private_key))
    return PendingRequest(
        csr_pem=csr.public_bytes(serialization.Encoding.PEM),
        names=tuple(_csr_names(csr)),
        key_file=state.pending_key_file,
        replaced_pending_key=replaced,
    )


def install_certificate(
    state: StateDir, source: Path, *, timeout: float = 30.0
) -> IssuedCertificate:
    """Install the certificate in ``source`` for the pending key, with that key.

    ``source`` is PEM and may contain the CA certificates after the host's
    certificate. Raises, and changes nothing, when no pending key exists, when
    no certificate in the file certifies the pending key, when no trusted CA
    issued it, or when the agent's clock is outside its validity period.
    ``timeout`` applies to measuring the clock skew for a time error.
    """
    pending_pem, pending_key = _load_pending_key(state)
    certificate = _certificate_for_key(_load_certificates(source), pending_key, source, state)
    _check_trusted(certificate, state, source)
    _check_validity(certificate, state, source, timeout)

    host_id = host_id_of(certificate)
    if host_id is None:
        raise InvalidRequestError(
            f"{source}: the certificate carries no host ID (no urn:uuid: name), so it is not a "
            "hostca host certificate; install the file that `hostca cert sign` wrote.",
            code="certificate_invalid",
        )
    names = tuple(certificate_names(certificate))
    config = state.read_config()
    state.commit_identity(
        Identity(
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
            key_pem=pending_pem,
            config=replace(config, host_id=host_id, names=names, key_type=key_type_of(pending_key)),
        )
    )
    state.delete_pending_key()
    return IssuedCertificate(
        host_id=host_id,
        serial_number=format_serial_number(certificate.serial_number),
        names=names,
        not_after=certificate.not_valid_after_utc,
        certificate_file=state.certificate_file,
    )


def key_type_of(private_key: PrivateKeyTypes) -> str | None:
    """Return the ``--key-type`` name of a key (``ec-p256``, ``rsa-3072``, ...), or None."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(private_key.curve.name)
    if isinstance(private_key, rsa.RSAPrivateKey):
        return f"rsa-{private_key.key_size}"
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    return None


def _load_pending_key(state: StateDir) -> tuple[bytes, PrivateKeyTypes]:
    try:
        pem = state.pending_key_file.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(
            f"{state.pending_key_file}: no pending key; run `hostca agent csr --out FILE` "
            "first and have the administrator sign that CSR.",
            code="pending_key_missing",
        ) from None
    try:
        return pem, serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise InvalidRequestError(
            f"{state.pending_key_file}: not an unencrypted PEM private key; run "
            "`hostca agent csr` again for a new key and CSR.",
            code="state_invalid",
        ) from None


def _load_certificates(source: Path) -> list[x509.Certificate]:
    try:
        data = source.read_bytes()
    except OSError as error:
        raise InvalidRequestError(
            f"{source}: cannot be read ({error.strerror}); check the path.", code="file_not_found"
        ) from None
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidRequestError(
            f"{source}: no PEM certificate found; install the file that `hostca cert sign` wrote.",
            code="certificate_invalid",
        ) from None


def _certificate_for_key(
    certificates: list[x509.Certificate],
    private_key: PrivateKeyTypes,
    source: Path,
    state: StateDir,
) -> x509.Certificate:
    public_key = private_key.public_key()
    for certificate in certificates:
        if same_public_key(certificate.public_key(), public_key):
            return certificate
    raise ConflictError(
        f"{source}: no certificate in the file certifies the pending key in "
        f"{state.pending_key_file}; install the certificate issued for the CSR of the latest "
        "`hostca agent csr` run. Nothing was changed.",
        code="certificate_key_mismatch",
    )


def _check_trusted(certificate: x509.Certificate, state: StateDir, source: Path) -> None:
    try:
        check_issuer(certificate, load_ca_bundle(state))
    except ConflictError:
        raise ConflictError(
            f"{source}: the certificate was issued by {certificate.issuer.rfc4514_string()}, "
            f"which is not a CA in {state.ca_file}; install a certificate from the primary "
            "whose CA this agent trusts (`hostca agent trust`). Nothing was changed.",
            code="certificate_untrusted",
        ) from None


def _check_validity(
    certificate: x509.Certificate, state: StateDir, source: Path, timeout: float
) -> None:
    moment = clock.now()
    if certificate.not_valid_before_utc <= moment < certificate.not_valid_after_utc:
        return

    if moment >= certificate.not_valid_after_utc:
        problem = f"expired at {certificate.not_valid_after_utc.isoformat()}"
        code = "certificate_expired"
    else:
        problem = f"is not valid before {certificate.not_valid_before_utc.isoformat()}"
        code = "certificate_not_yet_valid"
    server = state.read_config().server
    skew = (
        clock.skew_report(state, server, timeout=timeout)
        if server is not None
        else "The clock skew could not be measured: no primary server is known."
    )
    raise ConflictError(
        f"{source}: the certificate {problem}, and this host's time is "
        f"{moment.isoformat()}. {skew} Nothing was changed.",
        code=code,
    )


def _csr_names(csr: x509.CertificateSigningRequest) -> list[str]:
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(entry.value) for entry in san]
