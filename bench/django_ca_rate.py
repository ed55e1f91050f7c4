"""django-ca's signing rate, for the in-process issuance comparison.

Runs inside a separate virtual environment that has django-ca installed (the
suite makes it under ``.bench-peers/django-ca`` and never installs django-ca into
hostca's own environment), so it imports nothing from hostca. It configures a
throw-away Django project with SQLite in a temporary directory, creates a P-256
CA with django-ca's manager, and loops for a fixed time over what hostca's core
loop does: load a P-256 CSR, check its signature, and have django-ca sign it with
``CertificateAuthority.sign`` (its own low-level signing call, which adds the
authority and subject key identifiers and basic constraints), then PEM-encode
the certificate.

Run: ``.bench-peers/django-ca/bin/python bench/django_ca_rate.py --seconds 2`` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def configure(directory: Path) -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="bench-only-not-secret",  # noqa: S106 - a throw-away project in a temp directory
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_ca"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(directory / "db.sqlite3"),
            }
        },
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "django-ca": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(directory / "keys")},
            },
        },
        USE_TZ=True,
        CA_DEFAULT_HOSTNAME="",
        CA_ENABLE_ACME=False,
        LOGGING_CONFIG=None,
        ROOT_URLCONF="bench_django_ca_urls",
    )
    django.setup()

    # django-ca builds its certificates' CRL and issuer URLs by reversing its own
    # URL names, so the project's URL configuration includes them.
    from django.urls import include, path

    urls = types.ModuleType("bench_django_ca_urls")
    urls.urlpatterns = [path("django_ca/", include("django_ca.urls"))]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls


def measure(seconds: float) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from django.core.management import call_command
    from django_ca.key_backends import key_backends
    from django_ca.models import CertificateAuthority

    call_command("migrate", verbosity=0)
    backend = key_backends["default"]
    create_options = backend.get_create_private_key_options(
        "EC", None, "secp256r1", {"password": None, "path": "ca"}
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench django-ca root")])
    ca = CertificateAuthority.objects.init(
        "bench",
        backend,
        create_options,
        subject,
        datetime.now(UTC) + timedelta(days=3650),
        key_type="EC",
    )
    use_options = backend.get_use_private_key_options(ca, {})

    name = "web-01.bench.test"
    key = ec.generate_private_key(ec.SECP256R1())
    csr_pem = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    leaf_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    san = x509.Extension(
        x509.SubjectAlternativeName.oid, False, x509.SubjectAlternativeName([x509.DNSName(name)])
    )

    def issue() -> bytes:
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise ValueError("the CSR signature is invalid")
        certificate = ca.sign(
            use_options,
            csr,
            leaf_subject,
            not_after=datetime.now(UTC) + timedelta(days=365),
            extensions=[san],
        )
        return certificate.public_bytes(serialization.Encoding.PEM)

    issue()
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        issue()
        count += 1
    elapsed = time.perf_counter() - started
    return {
        "operations": count,
        "seconds": round(elapsed, 4),
        "per_second": round(count / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure django-ca's signing rate.")
    parser.add_argument("--seconds", type=float, default=2.0)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostca-bench-django-ca-") as directory:
        configure(Path(directory))
        print(json.dumps({"django_ca": measure(arguments.seconds)}))


if __name__ == "__main__":
    main()
