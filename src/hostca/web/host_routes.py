"""Routes for hosts: enrolment with a token, and renewal and self over mutual TLS."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from hostca.service.enrolment import EnrolRequest, enroll
from hostca.service.host_self import describe_self
from hostca.service.issuance import IssuedCertificate
from hostca.service.renewal import RenewRequest, renew
from hostca.web.dependencies import Context, peer_certificate, source_ip
from hostca.web.responses import UtcJSONResponse, iso_utc
from hostca.web.self_cache import SelfResponseCache

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["hosts"])


class EnrolBody(BaseModel):
    csr: str = Field(
        description="PEM certificate signing request made on the host.", max_length=65536
    )
    token: str | None = Field(
        default=None, description="Authorization or reissue token value.", max_length=256
    )


class RenewBody(BaseModel):
    csr: str | None = Field(
        default=None,
        description="A CSR for a new key; leave out to keep the key.",
        max_length=65536,
    )


def issued_view(issued: IssuedCertificate) -> dict[str, Any]:
    return {
        "host_id": issued.host_id,
        "serial_number": issued.serial_number,
        "certificate": issued.certificate_pem,
        "ca_certificates": [issued.ca_certificate_pem],
        "not_after": iso_utc(issued.not_after),
        "names": list(issued.names),
    }


@router.post("/enroll")
def post_enroll(body: EnrolBody, request: Request, context: Context) -> dict[str, Any]:
    """Issue a host's certificate from a CSR, authorized by a token or the deployment policy."""
    issued = enroll(
        context,
        EnrolRequest(csr_pem=body.csr, token_value=body.token, source_ip=source_ip(request)),
    )
    return issued_view(issued)


@router.post("/renew")
def post_renew(body: RenewBody, request: Request, context: Context) -> dict[str, Any]:
    """Renew the certificate the host presented in the TLS handshake."""
    issued = renew(
        context,
        RenewRequest(
            peer_der=peer_certificate(request), csr_pem=body.csr, source_ip=source_ip(request)
        ),
    )
    return issued_view(issued)


@router.get("/self", response_class=UtcJSONResponse)
def get_self(request: Request, context: Context) -> Response:
    """Return the calling host's record and the status of its certificate."""
    cache: SelfResponseCache = request.app.self_cache
    peer_der = peer_certificate(request)
    # Read before the database, so that a commit during the reads makes the cached response stale.
    version = cache.version(context)
    view = describe_self(context, peer_der, source_ip(request))
    certificate = view["certificate"]
    not_before, not_after = certificate["not_before"], certificate["not_after"]
    certificate["not_before"] = iso_utc(not_before)
    certificate["not_after"] = iso_utc(not_after)
    response = UtcJSONResponse(view)
    if peer_der is not None:
        cache.store(peer_der, version, bytes(response.body), not_before, not_after)
    return response
