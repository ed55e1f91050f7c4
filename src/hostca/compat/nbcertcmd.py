"""``nbcertcmd``: tokens, the CA and host certificates, in the NetBackup syntax.

Each operation runs a ``hostca`` command: the token operations run ``hostca
token``, ``-revokeCertificate`` runs ``hostca cert revoke``,
``-signCertificate`` runs ``hostca cert sign``, ``-listCACertDetails`` runs
``hostca ca show``, and the operations on this host's own certificate run
``hostca agent``, which honours ``HOSTCA_STATE_DIR``. A few also read
``hostca agent status --json`` to learn which primaries the agent trusts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from hostca.compat.delegate import OperationHandler, capture_hostca, run_command, run_hostca
from hostca.compat.exit_status import EXIT_OK, exit_status_for_code
from hostca.compat.inputs import read_fingerprint_file, read_token_variable
from hostca.compat.syntax import CommandSyntax, Invocation, Operation, Option

__all__ = ["REASON_CODE_NAMES", "SYNTAX", "main", "nbcertcmd"]

REASON_CODE_NAMES = {
    "0": "unspecified",
    "1": "key-compromise",
    "2": "ca-compromise",
    "3": "affiliation-changed",
    "4": "superseded",
    "5": "cessation-of-operation",
    "9": "privilege-withdrawn",
}
"""hostca's reason code names by their RFC 5280 (5.3.1) CRLReason numbers."""

_JSON = ("-json", "-json_compact")
_SERVER_SYNOPSIS = "[-server SERVER]"
_TOKEN_SOURCES = ("-token", "-file", "-envtoken")

SYNTAX = CommandSyntax(
    program="nbcertcmd",
    options=(
        Option("-name", "NAME"),
        Option("-maxUses", "COUNT"),
        Option("-validFor", "DURATION"),
        Option("-reason", "TEXT"),
        Option("-reissue"),
        Option("-host", "NAME"),
        Option("-hostId", "ID"),
        Option("-certSerial", "SERIAL"),
        Option("-reasonCode", "CODE"),
        Option("-server", "SERVER"),
        Option("-file", "FILE"),
        Option("-envtoken", "VARIABLE"),
        Option("-token"),
        Option("-force"),
        Option("-requestFile", "FILE"),
        Option("-certificateFile", "FILE"),
        Option("-json"),
        Option("-json_compact"),
    ),
    operations=(
        Operation(
            "-createToken",
            "-name NAME [-maxUses COUNT] [-validFor DURATION] [-reason TEXT] "
            "[-reissue (-host PRIMARY_NAME | -hostId ID)]",
            options=("-maxUses", "-validFor", "-reason", "-reissue"),
            required=("-name",),
            at_most_one_of=(("-host", "-hostId"),),
        ),
        Operation("-listTokens", "[-json | -json_compact]", options=_JSON),
        Operation("-displayToken", "-name NAME", required=("-name",)),
        Operation(
            "-deleteToken", "-name NAME [-reason TEXT]", options=("-reason",), required=("-name",)
        ),
        Operation("-cleanupToken"),
        Operation(
            "-getCACertificate",
            "-server SERVER [-file FINGERPRINT_FILE] [-force]",
            options=("-file", "-force"),
            required=("-server",),
        ),
        Operation(
            "-getCertificate",
            f"{_SERVER_SYNOPSIS} [-token | -file TOKEN_FILE | -envtoken VARIABLE] "
            "[-host NAME] [-force]",
            options=("-server", "-host", "-force"),
            at_most_one_of=(_TOKEN_SOURCES,),
        ),
        Operation("-renewCertificate", _SERVER_SYNOPSIS, options=("-server",)),
        Operation(
            "-revokeCertificate",
            "(-host PRIMARY_NAME | -hostId ID | -certSerial SERIAL) [-reasonCode CODE] "
            "[-reason TEXT]",
            options=("-reasonCode", "-reason"),
            one_of=(("-host", "-hostId", "-certSerial"),),
        ),
        Operation("-hostSelfCheck", _SERVER_SYNOPSIS, options=("-server",)),
        Operation("-getCRL", _SERVER_SYNOPSIS, options=("-server",)),
        Operation(
            "-listCertDetails",
            f"{_SERVER_SYNOPSIS} [-json | -json_compact]",
            options=("-server", *_JSON),
        ),
        Operation(
            "-listCACertDetails",
            f"{_SERVER_SYNOPSIS} [-json | -json_compact]",
            options=("-server", *_JSON),
        ),
        Operation(
            "-displayCACertDetail",
            f"{_SERVER_SYNOPSIS} [-json | -json_compact]",
            options=("-server", *_JSON),
        ),
        Operation("-checkClockSkew", _SERVER_SYNOPSIS, options=("-server",)),
        Operation(
            "-createCertRequest",
            f"-requestFile FILE [-host NAME] {_SERVER_SYNOPSIS}",
            options=("-host", "-server"),
            required=("-requestFile",),
        ),
        Operation(
            "-signCertificate",
            "-requestFile FILE -certificateFile FILE "
            f"[-token | -file TOKEN_FILE | -envtoken VARIABLE] {_SERVER_SYNOPSIS}",
            options=("-server",),
            required=("-requestFile", "-certificateFile"),
            at_most_one_of=(_TOKEN_SOURCES,),
        ),
        Operation(
            "-deployCertificate",
            f"-certificateFile FILE {_SERVER_SYNOPSIS}",
            options=("-server",),
            required=("-certificateFile",),
        ),
        Operation(
            "-deleteCertificate", f"{_SERVER_SYNOPSIS} [-force]", options=("-server", "-force")
        ),
        Operation("-deleteAllCertificates", "[-force]", options=("-force",)),
        Operation(
            "-removeCACertificate", f"{_SERVER_SYNOPSIS} [-force]", options=("-server", "-force")
        ),
    ),
    notes=(
        "Option names are case-insensitive. SERVER is a host name, HOST:PORT (the default "
        "port is 1556) or https://HOST[:PORT].",
        "DURATION is days, hours and minutes, such as 2D, 4H30M or 1D2H3M. CODE is an "
        "RFC 5280 reason number (0-5, 9).",
    ),
)

_SERVER = {"-server": "--server"}


# Tokens, on the primary, as the logged-in administrator.


def _create_token(call: Invocation) -> int:
    options = call.translate(
        {
            "-maxUses": "--max-uses",
            "-validFor": "--valid-for",
            "-reason": "--reason",
            "-reissue": "--reissue",
            "-host": "--host",
            "-hostId": "--host-id",
        }
    )
    return run_hostca(["token", "create", "--name", call.required_value("-name"), *options])


def _list_tokens(call: Invocation) -> int:
    return run_hostca(["token", "list"], call.output_format)


def _display_token(call: Invocation) -> int:
    return run_hostca(["token", "show", call.required_value("-name")])


def _delete_token(call: Invocation) -> int:
    name = call.required_value("-name")
    return run_hostca(["token", "delete", name, *call.translate({"-reason": "--reason"})])


def _cleanup_token(_call: Invocation) -> int:
    return run_hostca(["token", "cleanup"])


# Certificates, on the primary, as the logged-in administrator.


def _revoke_certificate(call: Invocation) -> int:
    options = call.translate(
        {
            "-host": "--host",
            "-hostId": "--host-id",
            "-certSerial": "--serial",
            "-reason": "--reason",
        }
    )
    reason_code = call.value("-reasonCode")
    if reason_code is not None:
        # A code that is not a known number goes to hostca unchanged, which
        # accepts the kebab-case names and rejects the rest with its message.
        options += ["--reason-code", REASON_CODE_NAMES.get(reason_code.strip(), reason_code)]
    return run_hostca(["cert", "revoke", *options])


def _sign_certificate(call: Invocation) -> int:
    options = [
        "--csr",
        call.required_value("-requestFile"),
        "--out",
        call.required_value("-certificateFile"),
        *call.translate({"-file": "--token-file", **_SERVER}),
    ]
    variable = call.value("-envtoken")
    if variable is not None:
        options += ["--token", read_token_variable(variable)]
    elif call.flag("-token"):
        options += ["--token", click.prompt("Token", hide_input=True, err=True)]
    return run_hostca(["cert", "sign", *options])


def _show_ca(call: Invocation) -> int:
    options = call.translate(_SERVER)
    server = call.value("-server")
    trusted_ca_file = _agent_ca_file(server) if server is not None else None
    if trusted_ca_file is not None:
        # On a host, the CA bundle that the agent trusts for this primary verifies
        # it, as no administrator session may exist there.
        options += ["--ca-file", trusted_ca_file]
    return run_hostca(["ca", "show", *options], call.output_format)


def _agent_ca_file(server: str) -> str | None:
    """Return the CA bundle that this host's agent trusts for ``server``, if it trusts it."""
    from hostca.apiclient import normalize_server_url

    url = normalize_server_url(server)
    # A host without a readable agent state uses hostca's defaults instead.
    outcome = capture_hostca(["agent", "status", "--json"], report_errors=False)
    if outcome.status != EXIT_OK:
        return None
    for item in json.loads(outcome.stdout)["servers"]:
        if item["server"] == url and item["ca_trusted"]:
            return str(item["ca_file"])
    return None


# This host's certificate, with the agent.


def _get_ca_certificate(call: Invocation) -> int:
    # -force is accepted and changes nothing: hostca replaces the trusted CA
    # bundle once its fingerprint is confirmed.
    options = ["--server", call.required_value("-server")]
    fingerprint_file = call.value("-file")
    if fingerprint_file is not None:
        options += ["--fingerprint", read_fingerprint_file(Path(fingerprint_file))]
    return run_hostca(["agent", "trust", *options])


def _get_certificate(call: Invocation) -> int:
    options = call.translate(
        {
            **_SERVER,
            "-host": "--name",
            "-file": "--token-file",
            "-envtoken": "--token-env",
            "-force": "--force",
        }
    )
    if call.flag("-token"):
        # Last, so that it takes no value and hostca prompts for the token.
        options.append("--token")
    return run_hostca(["agent", "enroll", *options])


def _renew_certificate(call: Invocation) -> int:
    return run_hostca(["agent", "renew", *call.translate(_SERVER)])


def _host_self_check(call: Invocation) -> int:
    outcome = capture_hostca(["agent", "self-check", *call.translate(_SERVER), "--json"])
    if not outcome.stdout.strip():
        return outcome.status

    report: dict[str, Any] = json.loads(outcome.stdout)
    sys.stdout.write(_self_check_text(report) + "\n")
    if report["status"] == "valid":
        return EXIT_OK
    return exit_status_for_code(f"certificate_{report['status']}")


def _self_check_text(report: dict[str, Any]) -> str:
    subject = f"The certificate {report['serial_number']} of host {report['host_id'] or '-'}"
    status = report["status"]
    if status == "revoked":
        verdict = f"{subject} is revoked."
    elif status == "valid":
        verdict = f"{subject} is not revoked."
    else:
        verdict = f"{subject} is not revoked, but it is not usable: {status}."

    server = report["server"]
    lines = [verdict, f"  primary  {server['status']} ({server['url']})"]
    if server.get("message"):
        lines.append(f"           {server['message']}")
    lines.append(f"  clock    {report['clock']['message']}")
    return "\n".join(lines)


def _get_crl(call: Invocation) -> int:
    return run_hostca(["agent", "crl", "fetch", *call.translate(_SERVER)])


def _list_cert_details(call: Invocation) -> int:
    return run_hostca(["agent", "status", *call.translate(_SERVER)], call.output_format)


def _check_clock_skew(call: Invocation) -> int:
    return run_hostca(["agent", "clock-skew", *call.translate(_SERVER)])


def _create_cert_request(call: Invocation) -> int:
    options = call.translate({"-host": "--name", **_SERVER})
    return run_hostca(["agent", "csr", "--out", call.required_value("-requestFile"), *options])


def _deploy_certificate(call: Invocation) -> int:
    certificate_file = call.required_value("-certificateFile")
    return run_hostca(["agent", "install-cert", certificate_file, *call.translate(_SERVER)])


def _forget(call: Invocation) -> int:
    # hostca keeps a primary's CA bundle, key and certificate together, so
    # -deleteCertificate and -removeCACertificate both remove all of them.
    return run_hostca(["agent", "forget", *call.translate({**_SERVER, "-force": "--force"})])


def _delete_all_certificates(call: Invocation) -> int:
    outcome = capture_hostca(["agent", "status", "--json"])
    if outcome.status != EXIT_OK:
        return outcome.status

    servers = [item["server"] for item in json.loads(outcome.stdout)["servers"]]
    if not servers:
        sys.stdout.write("This host trusts no primary server; nothing to delete.\n")
    force = call.translate({"-force": "--force"})
    for server in servers:
        status = run_hostca(["agent", "forget", "--server", server, *force])
        if status != EXIT_OK:
            return status
    return EXIT_OK


HANDLERS: dict[str, OperationHandler] = {
    "-createToken": _create_token,
    "-listTokens": _list_tokens,
    "-displayToken": _display_token,
    "-deleteToken": _delete_token,
    "-cleanupToken": _cleanup_token,
    "-getCACertificate": _get_ca_certificate,
    "-getCertificate": _get_certificate,
    "-renewCertificate": _renew_certificate,
    "-revokeCertificate": _revoke_certificate,
    "-hostSelfCheck": _host_self_check,
    "-getCRL": _get_crl,
    "-listCertDetails": _list_cert_details,
    "-listCACertDetails": _show_ca,
    "-displayCACertDetail": _show_ca,
    "-checkClockSkew": _check_clock_skew,
    "-createCertRequest": _create_cert_request,
    "-signCertificate": _sign_certificate,
    "-deployCertificate": _deploy_certificate,
    "-deleteCertificate": _forget,
    "-deleteAllCertificates": _delete_all_certificates,
    "-removeCACertificate": _forget,
}


def nbcertcmd(arguments: list[str] | None = None) -> int:
    """Run an ``nbcertcmd`` command line and return its exit status."""
    return run_command(SYNTAX, HANDLERS, arguments)


def main() -> None:
    sys.exit(nbcertcmd())
