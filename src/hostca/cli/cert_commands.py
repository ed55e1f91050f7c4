"""``hostca cert``: list, show, revoke and sign host certificates.

Serial numbers are upper-case hex, as the server writes them; the server also
accepts them with colons or in lower case. Revocation reason codes are the
RFC 5280 names in kebab case, which the server checks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from hostca.cli.output import emit, emit_table, format_time, json_option
from hostca.core.errors import InvalidRequestError

__all__ = ["cert"]

_STATUSES = "valid|superseded|revoked|expired"
_REASON_CODES = (
    "unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, "
    "cessation-of-operation, privilege-withdrawn"
)


@click.group("cert")
def cert() -> None:
    """List, show and revoke host certificates."""


@cert.command("list")
@click.option("--host", metavar="HOST", help="Only the certificates of this host (name or ID).")
@click.option("--status", metavar=_STATUSES, help="Only certificates with this status.")
@json_option
def list_(host: str | None, status: str | None, as_json: bool) -> None:
    """List certificates, newest first."""
    from hostca.cli.session import admin_client

    params = {key: value for key, value in (("host", host), ("status", status)) if value}
    with admin_client() as client:
        certificates = client.get_json("/api/v1/certificates", params=params)
    emit(certificates, as_json, _list_text)


def _list_text(certificates: list[dict[str, Any]]) -> str:
    if not certificates:
        return "No certificates."
    rows = [
        (
            item["serial_number"],
            item["status"],
            format_time(item["not_after"]),
            item["host_id"],
            ", ".join(item.get("names", [])),
        )
        for item in certificates
    ]
    return emit_table(rows, ["SERIAL NUMBER", "STATUS", "NOT AFTER", "HOST ID", "NAMES"])


@cert.command("show")
@click.argument("serial_number", metavar="SERIAL")
@click.option("--pem", is_flag=True, help="Print the certificate in PEM after its details.")
@json_option
def show(serial_number: str, pem: bool, as_json: bool) -> None:
    """Show one certificate by its serial number (hex)."""
    from hostca.cli.session import admin_client, path_segment

    with admin_client() as client:
        shown = client.get_json(f"/api/v1/certificates/{path_segment(serial_number)}")
    emit(shown, as_json, lambda item: _show_text(item, with_pem=pem))


def _show_text(item: dict[str, Any], *, with_pem: bool) -> str:
    fields: list[tuple[str, Any]] = [
        ("serial number", item["serial_number"]),
        ("host ID", item["host_id"]),
        ("status", item["status"]),
        ("names", ", ".join(item.get("names", []))),
        ("not before", format_time(item.get("not_before"))),
        ("not after", format_time(item["not_after"])),
        ("issued at", format_time(item.get("issued_at"))),
        ("key type", item.get("key_type")),
        ("SHA-256", item.get("fingerprint_sha256")),
    ]
    if item.get("revoked_at") is not None:
        fields += [
            ("revoked at", format_time(item["revoked_at"])),
            ("reason code", item.get("revocation_reason")),
        ]
    lines = _field_lines(fields)
    if with_pem and item.get("certificate"):
        lines += ["", str(item["certificate"]).rstrip("\n")]
    return "\n".join(lines)


def _field_lines(fields: Sequence[tuple[str, Any]]) -> list[str]:
    width = max(len(label) for label, _value in fields) + 2
    return [f"{label + ':':<{width}}{'-' if value is None else value}" for label, value in fields]


@cert.command("revoke")
@click.option("--host", metavar="PRIMARY_NAME", help="Revoke every valid certificate of this host.")
@click.option("--host-id", metavar="ID", help="Revoke every valid certificate of this host ID.")
@click.option("--serial", "serial_number", metavar="S", help="Revoke this one certificate.")
@click.option(
    "--reason-code",
    metavar="CODE",
    help=f"RFC 5280 reason code: {_REASON_CODES} (default unspecified).",
)
@click.option("--reason", help="Why the certificate is revoked, recorded in the audit event.")
@json_option
def revoke(
    host: str | None,
    host_id: str | None,
    serial_number: str | None,
    reason_code: str | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Revoke the certificates of a host, or one certificate, and publish a new CRL.

    Name the target with exactly one of --host, --host-id or --serial. From the
    next request on, the web service rejects a revoked certificate.
    """
    from hostca.cli.session import admin_client

    body: dict[str, Any] = {
        "host": host,
        "host_id": host_id,
        "serial_number": serial_number,
        "reason": reason,
    }
    if reason_code is not None:
        body["reason_code"] = reason_code

    with admin_client() as client:
        result = client.post_json("/api/v1/certificates/revoke", body)
    emit(result, as_json, _revoked_text)


def _revoked_text(result: dict[str, Any]) -> str:
    serials = result.get("revoked") or []
    return "\n".join([f"Revoked {len(serials)} certificate(s):", *serials])


@cert.command("sign")
@click.option(
    "--csr",
    "csr_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The host's certificate signing request (PEM), made with 'hostca agent csr' or openssl req.",
)
@click.option(
    "--token",
    "token_value",
    metavar="VALUE",
    help="Authorization or reissue token for the host. With neither --token nor --token-file on a "
    "terminal, it is asked for without echo; an empty answer sends none, where the security level allows.",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Read the token value from this file.",
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the certificate, followed by the CA certificate (PEM).",
)
@click.option(
    "--server", help="Primary server, HOST[:PORT] or URL (default: the logged-in server)."
)
@click.option(
    "--ca-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="CA certificate that the server's TLS certificate must chain to.",
)
@json_option
def sign(
    csr_file: Path,
    token_value: str | None,
    token_file: Path | None,
    out_file: Path,
    server: str | None,
    ca_file: Path | None,
    as_json: bool,
) -> None:
    """Get a certificate for an offline host from its CSR.

    The token rules are those of online enrolment: the token authorizes the
    request, and a failed request uses nothing. Carry the output file back to
    the host and install it there with 'hostca agent install-cert FILE'.
    """
    from hostca.cli.session import public_client

    if token_value is not None and token_file is not None:
        raise InvalidRequestError(
            "give the token with --token or --token-file, not both.", code="invalid_request"
        )
    if token_file is not None:
        token_value = token_file.read_text().strip()
    elif token_value is None and sys.stdin.isatty():
        token_value = click.prompt(
            "Token (empty for none)", default="", show_default=False, hide_input=True
        )
    if out_file.exists():
        raise InvalidRequestError(
            f"{out_file}: already exists; choose another --out file or remove it first.",
            code="file_exists",
        )
    # Check the output place before the request: a token used on a lost certificate is gone.
    directory = out_file.parent
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise InvalidRequestError(
            f"{directory}: not a writable directory for --out; create it or choose another place.",
            code="file_unwritable",
        )
    body: dict[str, Any] = {"csr": csr_file.read_text(errors="replace")}
    if token_value:
        body["token"] = token_value

    with public_client(server, ca_file) as client:
        issued = client.post_json("/api/v1/enroll", body)
    try:
        out_file.write_text(issued["certificate"] + "".join(issued.get("ca_certificates", [])))
    except OSError as error:
        raise InvalidRequestError(
            f"{out_file}: could not write the issued certificate {issued['serial_number']} ({error.strerror}); "
            f"get it again with 'hostca cert show {issued['serial_number']} --pem'.",
            code="file_unwritable",
        ) from None

    issued_view = {
        key: value for key, value in issued.items() if key not in ("certificate", "ca_certificates")
    }
    issued_view["certificate_file"] = str(out_file)
    emit(
        issued_view,
        as_json,
        f"Issued certificate {issued['serial_number']} for host {issued['host_id']} "
        f"({', '.join(issued.get('names', []))}), valid until {issued['not_after']}.\n"
        f"Wrote {out_file}; install it on the host with 'hostca agent install-cert {out_file.name}'.",
    )
