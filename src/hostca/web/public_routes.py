"""Routes that need no authentication: the CA, the CRL, the time and health."""

from __future__ import annotations

from typing import Literal

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Response

from hostca.core.fingerprints import fingerprint
from hostca.service.crl_service import current_crl
from hostca.web.dependencies import Context
from hostca.web.responses import iso_utc

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz", tags=["public"])
def healthz() -> dict[str, str]:
    """Liveness: the process answers, whatever the state of the database."""
    return {"status": "ok"}


@router.get("/readyz", tags=["public"])
def readyz(context: Context) -> dict[str, object]:
    """Readiness: the database answers with this version's schema (503 otherwise).

    ``leader`` tells whether this process runs the leader jobs: the scheduled CRL
    and the periodic clean-ups.
    """
    context.database.check_ready()
    return {"status": "ready", "leader": context.leadership.is_leader}


@router.get("/api/v1/ca", tags=["public"], response_model=None)
def get_ca(
    context: Context, format: Literal["json", "pem", "der"] = "json"
) -> Response | dict[str, object]:
    """Return the CA certificates with their fingerprints, or the bare PEM or DER certificate."""
    certificate = context.ca.certificate
    pem = certificate.public_bytes(Encoding.PEM).decode("ascii")
    if format == "pem":
        return Response(pem, media_type="application/x-pem-file")
    if format == "der":
        return Response(certificate.public_bytes(Encoding.DER), media_type="application/pkix-cert")
    return {
        "certificates": [
            {
                "pem": pem,
                "subject": certificate.subject.rfc4514_string(),
                "sha256": fingerprint(certificate, "sha256"),
                "sha1": fingerprint(certificate, "sha1"),
                "not_before": iso_utc(certificate.not_valid_before_utc),
                "not_after": iso_utc(certificate.not_valid_after_utc),
            }
        ]
    }


@router.get("/api/v1/crl", tags=["public"], response_class=Response)
def get_crl(context: Context, format: Literal["der", "pem"] = "der") -> Response:
    """Return the newest complete CRL, as DER or PEM."""
    crl = current_crl(context)
    headers = {"Cache-Control": "no-cache", "X-CRL-Number": str(crl.crl_number)}
    if format == "pem":
        from cryptography import x509

        pem = x509.load_der_x509_crl(crl.der).public_bytes(Encoding.PEM)
        return Response(pem, media_type="application/x-pem-file", headers=headers)
    return Response(crl.der, media_type="application/pkix-crl", headers=headers)


@router.get("/api/v1/time", tags=["public"])
def get_time(context: Context) -> dict[str, str]:
    return {"time": iso_utc(context.clock())}
