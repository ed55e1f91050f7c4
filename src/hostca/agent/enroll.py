"""Enrolment: a new key and the host's first certificate, or a reissued one with --force.

The key is generated in memory and written only together with the certificate
that the primary returns for it. When the primary rejects the request, the
state directory, including any earlier key and certificate, stays unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives import serialization

from hostca.agent.certificates import IssuedCertificate, accept_issued_certificate, load_ca_bundle
from hostca.agent.connection import DEFAULT_TIMEOUT, connect, resolve_server
from hostca.agent.csr import build_csr, serialize_private_key
from hostca.agent.state import StateDir
from hostca.core.errors import ConflictError
from hostca.core.keys import generate_private_key
from hostca.core.tokens import canonicalize_token_value

__all__ = ["DEFAULT_KEY_TYPE", "EnrollRequest", "enroll"]

DEFAULT_KEY_TYPE = "ec-p256"


@dataclass(frozen=True)
class EnrollRequest:
    """The options of one ``hostca agent enroll`` run.

    ``server`` None means the server stored in ``agent.json``. ``token`` is the
    raw value as typed, or None when the deployment policy may allow enrolment
    without one. ``force`` allows replacing an existing certificate.
    """

    primary_name: str
    aliases: tuple[str, ...] = field(default_factory=tuple)
    server: str | None = None
    key_type: str = DEFAULT_KEY_TYPE
    token: str | None = None
    force: bool = False


def enroll(
    state: StateDir, request: EnrollRequest, *, timeout: float = DEFAULT_TIMEOUT
) -> IssuedCertificate:
    """Make a new key, send its CSR to ``POST /api/v1/enroll`` and store the result."""
    config = state.read_config()
    server = resolve_server(request.server, config)
    if state.certificate_file.exists() and not request.force:
        raise ConflictError(
            f"{state.certificate_file}: this host already has a certificate; pass --force "
            "to replace it, with a reissue token if the primary requires one.",
            code="already_enrolled",
        )
    load_ca_bundle(state)
    body: dict[str, str] = {}
    if request.token is not None:
        body["token"] = canonicalize_token_value(request.token)

    private_key = generate_private_key(request.key_type)
    csr = build_csr(private_key, request.primary_name, request.aliases)
    body["csr"] = csr.public_bytes(serialization.Encoding.PEM).decode()

    with connect(state, server, timeout=timeout) as client:
        response = client.post_json("/api/v1/enroll", body)

    return accept_issued_certificate(
        state,
        response,
        public_key=private_key.public_key(),
        key_pem=serialize_private_key(private_key),
        config=replace(config, server=server, key_type=request.key_type),
    )
