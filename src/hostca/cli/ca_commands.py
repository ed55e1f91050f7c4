"""``hostca ca show`` and ``hostca crl show``: the CA certificate and the current CRL.

Both read public routes, so they need no login: the server and the CA bundle that
verifies it come from --server and --ca-file, then from HOSTCA_SERVER and
HOSTCA_CA_FILE, then from the stored session. Fingerprints are computed here
from the certificate, and the CRL's signature is checked against the CA
certificate fetched from the same server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from hostca.cli.output import emit, emit_table, format_time, json_option
from hostca.core.errors import UnavailableError

if TYPE_CHECKING:
    from cryptography import x509

    from hostca.apiclient import ApiClient

__all__ = ["ca", "crl"]

F = TypeVar("F", bound=Callable[..., Any])


def _connection_options(function: F) -> F:
    function = click.option(
        "--ca-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="PEM bundle that verifies the server. Default: HOSTCA_CA_FILE, then the CA "
        "stored by `hostca login`.",
    )(function)
    return click.option(
        "--server",
        help="Primary server as HOST, HOST:PORT or https://HOST[:PORT]. Default: "
        "HOSTCA_SERVER, then the server of `hostca login`.",
    )(function)


@click.group("ca")
def ca() -> None:
    """Show the certificate authority."""


@ca.command("show")
@_connection_options
@click.option("--pem", is_flag=True, help="Print only the CA certificates in PEM.")
@json_option
def ca_show(server: str | None, ca_file: Path | None, pem: bool, as_json: bool) -> None:
    """Show the CA certificate: subject, validity and SHA-256 and SHA-1 fingerprints."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from hostca.cli.session import public_client

    with public_client(server, ca_file) as client:
        certificates = _fetch_ca_certificates(client)

    if pem and not as_json:
        click.echo(b"".join(c.public_bytes(Encoding.PEM) for c in certificates).decode(), nl=False)
        return
    described = {
        "server": client.base_url,
        "certificates": [_describe_certificate(c) for c in certificates],
    }
    emit(described, as_json, _ca_text)


def _fetch_ca_certificates(client: ApiClient) -> list[x509.Certificate]:
    from cryptography import x509

    pem = client.get_bytes("/api/v1/ca", params={"format": "pem"})
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise UnavailableError(
            f"{client.base_url} returned a CA bundle that is not PEM; check that --server "
            "points to a hostca primary.",
            code="invalid_response",
        ) from None


def _describe_certificate(certificate: x509.Certificate) -> dict[str, Any]:
    from cryptography.hazmat.primitives.serialization import Encoding

    from hostca.core.fingerprints import fingerprint

    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial_number": _format_serial(certificate.serial_number),
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "sha256": fingerprint(certificate, "sha256"),
        "sha1": fingerprint(certificate, "sha1"),
        "pem": certificate.public_bytes(Encoding.PEM).decode("ascii"),
    }


def _ca_text(described: dict[str, Any]) -> str:
    blocks = []
    for item in described["certificates"]:
        blocks.append(
            "\n".join(
                _field_lines(
                    [
                        ("subject", item["subject"]),
                        ("issuer", item["issuer"]),
                        ("serial number", item["serial_number"]),
                        ("not before", format_time(item["not_before"])),
                        ("not after", format_time(item["not_after"])),
                        ("SHA-256", item["sha256"]),
                        ("SHA-1", item["sha1"]),
                    ]
                )
            )
        )
    return "\n\n".join(blocks)


@click.group("crl")
def crl() -> None:
    """Show the current certificate revocation list."""


@crl.command("show")
@_connection_options
@json_option
def crl_show(server: str | None, ca_file: Path | None, as_json: bool) -> None:
    """Show the current CRL: number, update times, issuer and revoked certificates.

    The CRL is accepted only when a CA certificate of the same server signed it.
    """
    from cryptography import x509

    from hostca.cli.session import public_client

    with public_client(server, ca_file) as client:
        der = client.get_bytes("/api/v1/crl")
        certificates = _fetch_ca_certificates(client)

    try:
        revocation_list = x509.load_der_x509_crl(der)
    except ValueError:
        raise UnavailableError(
            f"{client.base_url} returned a CRL that is not DER; check that --server points to "
            "a hostca primary.",
            code="invalid_response",
        ) from None
    issuer = _verify_signature(revocation_list, certificates, client.base_url)
    emit(_describe_crl(revocation_list, issuer, client.base_url), as_json, _crl_text)


def _verify_signature(
    revocation_list: x509.CertificateRevocationList,
    certificates: Sequence[x509.Certificate],
    server: str,
) -> x509.Certificate:
    """Return the CA certificate that signed the CRL, or raise ``crl_signature_invalid``.

    hostca CAs sign with EC or RSA keys, so a certificate with another key type
    cannot be the issuer.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    for certificate in certificates:
        key = certificate.public_key()
        # The issuer is the CA certificate whose subject is the CRL's issuer name
        # and whose key verifies the CRL's signature.
        if certificate.subject != revocation_list.issuer:
            continue
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            continue
        if revocation_list.is_signature_valid(key):
            return certificate
    raise UnavailableError(
        f"the CRL from {server} (issuer {revocation_list.issuer.rfc4514_string()}) is not "
        "signed by the CA certificate of that server; do not rely on it, and tell the "
        "administrator of the primary.",
        code="crl_signature_invalid",
    )


def _describe_crl(
    revocation_list: x509.CertificateRevocationList, issuer: x509.Certificate, server: str
) -> dict[str, Any]:
    from cryptography import x509

    from hostca.core.fingerprints import fingerprint

    try:
        number: int | None = revocation_list.extensions.get_extension_for_class(
            x509.CRLNumber
        ).value.crl_number
    except x509.ExtensionNotFound:
        number = None
    return {
        "server": server,
        "crl_number": number,
        "this_update": revocation_list.last_update_utc,
        "next_update": revocation_list.next_update_utc,
        "issuer": revocation_list.issuer.rfc4514_string(),
        "issuer_sha256": fingerprint(issuer, "sha256"),
        "signature_valid": True,
        "entries": [_describe_entry(entry) for entry in revocation_list],
    }


def _describe_entry(entry: x509.RevokedCertificate) -> dict[str, Any]:
    from cryptography import x509

    from hostca.core.crl import reason_code_name

    try:
        reason: str | None = reason_code_name(
            entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        )
    except x509.ExtensionNotFound:
        reason = None
    return {
        "serial_number": _format_serial(entry.serial_number),
        "revocation_date": entry.revocation_date_utc,
        "reason": reason,
    }


def _crl_text(described: dict[str, Any]) -> str:
    lines = _field_lines(
        [
            ("CRL number", described["crl_number"]),
            ("issuer", described["issuer"]),
            ("this update", format_time(described["this_update"])),
            ("next update", format_time(described["next_update"])),
            ("signature", f"valid, CA SHA-256 {described['issuer_sha256']}"),
            ("entries", len(described["entries"])),
        ]
    )
    entries = described["entries"]
    if entries:
        rows = [
            (e["serial_number"], format_time(e["revocation_date"]), e["reason"] or "-")
            for e in entries
        ]
        table = emit_table(rows, ["SERIAL NUMBER", "REVOCATION DATE", "REASON"])
        lines += ["", *table.splitlines()]
    return "\n".join(lines)


def _format_serial(serial_number: int) -> str:
    # Upper-case hex with an even number of digits, as the server and OpenSSL write serials.
    text = f"{serial_number:X}"
    return text if len(text) % 2 == 0 else "0" + text


def _field_lines(fields: Sequence[tuple[str, Any]]) -> list[str]:
    width = max(len(label) for label, _value in fields) + 2
    return [f"{label + ':':<{width}}{_text(value)}" for label, value in fields]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)
