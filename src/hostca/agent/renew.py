"""Renewal over mutual TLS with the current certificate, with the same key or a new one."""

from __future__ import annotations

from dataclasses import replace

from cryptography.hazmat.primitives import serialization

from hostca.agent.certificates import (
    IssuedCertificate,
    accept_issued_certificate,
    certificate_names,
    load_certificate,
    load_private_key,
    same_public_key,
)
from hostca.agent.connection import DEFAULT_TIMEOUT, connect, resolve_server
from hostca.agent.csr import build_csr, serialize_private_key
from hostca.agent.enroll import DEFAULT_KEY_TYPE
from hostca.agent.state import StateDir
from hostca.core.errors import ConflictError
from hostca.core.keys import generate_private_key

__all__ = ["renew"]


def renew(
    state: StateDir, *, rekey: bool = False, timeout: float = DEFAULT_TIMEOUT
) -> IssuedCertificate:
    """Send ``POST /api/v1/renew`` authenticated by the current certificate and store the result.

    With ``rekey`` a new key of the stored key type is generated and its CSR
    sent. The new key is written only together with the new certificate.
    """
    config = state.read_config()
    server = resolve_server(None, config)
    certificate = load_certificate(state)
    current_key = load_private_key(state)
    if not same_public_key(current_key.public_key(), certificate.public_key()):
        raise ConflictError(
            f"{state.key_file} does not belong to {state.certificate_file}; ask the "
            "administrator for a reissue token and run `hostca agent enroll --force`.",
            code="key_mismatch",
        )

    if not rekey:
        with connect(state, server, mutual_tls=True, timeout=timeout) as client:
            response = client.post_json("/api/v1/renew", {})
        return accept_issued_certificate(
            state,
            response,
            public_key=certificate.public_key(),
            key_pem=None,
            config=config,
            expected_host_id=config.host_id,
        )

    key_type = config.key_type or DEFAULT_KEY_TYPE
    new_key = generate_private_key(key_type)
    names = certificate_names(certificate) or list(config.names)
    if not names:
        raise ConflictError(
            f"{state.certificate_file} carries no host name to request again; "
            "run `hostca agent enroll --force --name NAME` instead.",
            code="names_missing",
        )
    csr = build_csr(new_key, names[0], names[1:])
    body = {"csr": csr.public_bytes(serialization.Encoding.PEM).decode()}
    with connect(state, server, mutual_tls=True, timeout=timeout) as client:
        response = client.post_json("/api/v1/renew", body)
    return accept_issued_certificate(
        state,
        response,
        public_key=new_key.public_key(),
        key_pem=serialize_private_key(new_key),
        config=replace(config, key_type=key_type),
        expected_host_id=config.host_id,
    )
