"""Issuance rate inside one process: hostca's core profile against raw cryptography.

Three loops, each for a fixed time on a P-256 CSR and the CA of a hostca data
directory:

- ``hostca``: ``load_csr`` (decode, key and signature check, names) and
  ``build_host_certificate`` with hostca's full profile, then PEM encoding.
- ``raw``: the same work written directly against ``cryptography``: load the CSR,
  check its signature, build a leaf with the same eight extensions, sign, PEM.
- ``sign``: the CA key signing 64 bytes, the floor under every issuance.

Run: ``python bench/core_rate.py --data-dir D --seconds 2`` prints JSON rates per second.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from hostca.ca.keystore import load_ca
from hostca.core.csr import load_csr
from hostca.core.profile import (
    HostCertificateRequest,
    build_host_certificate,
    generate_serial_number,
)

__all__ = ["make_csr", "measure_rates"]

CRL_URL = "https://127.0.0.1:1556/crl.der"
CA_ISSUERS_URL = "https://127.0.0.1:1556/ca.der"


def make_csr(name: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    """Return a PEM CSR for ``name`` (common name and DNS subject alternative name)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def _rate(operation: Callable[[], object], seconds: float) -> dict[str, float]:
    operation()
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        operation()
        count += 1
    elapsed = time.perf_counter() - start
    return {
        "operations": count,
        "seconds": round(elapsed, 4),
        "per_second": round(count / elapsed, 1),
    }


def measure_rates(data_dir: Path, seconds: float) -> dict[str, dict[str, float]]:
    """Run the three loops for ``seconds`` each and return their rates."""
    ca = load_ca(data_dir / "ca", None)
    csr_pem = make_csr("web-01.bench.test", ec.generate_private_key(ec.SECP256R1()))

    def issue_with_hostca() -> str:
        checked = load_csr(csr_pem)
        request = HostCertificateRequest(
            host_id=uuid.uuid4(),
            dns_names=("web-01.bench.test",),
            ip_addresses=(),
            public_key=checked.public_key,
            serial_number=generate_serial_number(),
            now=datetime.datetime.now(datetime.UTC),
            lifetime=datetime.timedelta(days=30),
            crl_url=CRL_URL,
            ca_issuers_url=CA_ISSUERS_URL,
        )
        certificate = build_host_certificate(request, ca.certificate, ca.private_key)
        return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value

    def issue_with_cryptography() -> str:
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise ValueError("CSR signature is invalid")
        public_key = csr.public_key()
        host_id = uuid.uuid4()
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(host_id))]))
            .issuer_name(ca.certificate.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("web-01.bench.test"),
                        x509.UniformResourceIdentifier(host_id.urn),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(CRL_URL)], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(CA_ISSUERS_URL),
                        )
                    ]
                ),
                critical=False,
            )
            .sign(ca.private_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    data = b"\x00" * 64

    def sign_only() -> bytes:
        return ca.private_key.sign(data, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg, arg-type]

    return {
        "hostca": _rate(issue_with_hostca, seconds),
        "raw": _rate(issue_with_cryptography, seconds),
        "sign": _rate(sign_only, seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure in-process issuance rates.")
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="initialized hostca data directory"
    )
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="duration of each loop in seconds"
    )
    arguments = parser.parse_args()
    print(json.dumps(measure_rates(arguments.data_dir, arguments.seconds)))


if __name__ == "__main__":
    main()
