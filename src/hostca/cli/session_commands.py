"""``hostca login`` and ``hostca logout``: start and end the stored administrator session.

Before the password is sent, login establishes which CA verifies the server:
``--ca-file``, a matching ``--fingerprint``, or the administrator's confirmation
of the fingerprints that the server offers. The CA bundle and the session are
stored only after the server accepted the password.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hostca.cli.output import emit, json_option
from hostca.cli.password_files import read_password_file
from hostca.core.errors import ForbiddenError, HostcaError, InvalidRequestError, UnavailableError

if TYPE_CHECKING:
    from hostca.agent.trust import CaCertificate
    from hostca.cli.session import StoredSession

__all__ = ["login", "logout"]

DEFAULT_USER = "admin"
_SERVER_HELP = (
    "Primary server as HOST, HOST:PORT or https://HOST[:PORT]; the default port is 1556. "
    "Default: HOSTCA_SERVER."
)


@click.command("login")
@click.option("--server", help=_SERVER_HELP)
@click.option(
    "--user",
    help=f"Administrator name. Default: {DEFAULT_USER}, asked for when run interactively.",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File whose first line is the password. Without it, the password is asked for "
    "without echo.",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM file with the CA certificate of the primary; it is copied beside the session. "
    "Default: HOSTCA_CA_FILE.",
)
@click.option(
    "--fingerprint",
    metavar="SHA256",
    help="Expected SHA-256 fingerprint of the primary's CA certificate, 64 hex digits with "
    "or without colons (a SHA-1 fingerprint is accepted too). The CA is fetched and "
    "trusted only when it matches.",
)
@json_option
def login(
    server: str | None,
    user: str | None,
    password_file: Path | None,
    ca_file: Path | None,
    fingerprint: str | None,
    as_json: bool,
) -> None:
    """Log in to a primary server and store the session for 24 hours.

    Without --ca-file or --fingerprint, the command shows the fingerprints of the
    CA that the server offers and prompts for confirmation before trusting it. Compare them with the
    output of `hostca server init` or `hostca ca show` on the primary.
    """
    from hostca.apiclient import normalize_server_url
    from hostca.cli.session import read_environment

    environment = read_environment()
    server = server or environment.server
    if ca_file is None and fingerprint is None:
        ca_file = environment.ca_file
    if server is None:
        raise InvalidRequestError(
            "no primary server given; pass --server HOST[:PORT].", code="server_missing"
        )
    if ca_file is not None and fingerprint is not None:
        raise InvalidRequestError(
            "--ca-file and --fingerprint both choose the CA; give only one of them.",
            code="invalid_request",
        )
    url = normalize_server_url(server)
    user_name = _user_name(user)
    password = read_password_file(password_file) if password_file else None

    ca_pem = _trusted_ca_pem(url, ca_file, fingerprint, as_json)
    if password is None:
        password = _prompt_password(user_name)
    stored = _log_in(url, user_name, password, ca_pem)

    result = {
        "server": stored.server,
        "user": stored.user,
        "role": stored.role,
        "expires_at": stored.to_json()["expires_at"],
        "ca_file": str(stored.ca_file),
    }
    emit(
        result,
        as_json,
        f"Logged in to {stored.server} as {stored.user} ({stored.role}); the session expires "
        f"at {result['expires_at']}.",
    )


def _user_name(user: str | None) -> str:
    if user is not None:
        return user
    if sys.stdin.isatty():
        name: str = click.prompt("User", default=DEFAULT_USER, err=True)
        return name
    return DEFAULT_USER


def _prompt_password(user: str) -> str:
    if not sys.stdin.isatty():
        raise InvalidRequestError(
            "no password given and no terminal to ask for it; pass --password-file F.",
            code="password_required",
        )
    password: str = click.prompt(f"Password for {user}", hide_input=True, err=True)
    return password


def _trusted_ca_pem(
    url: str, ca_file: Path | None, fingerprint: str | None, as_json: bool
) -> bytes:
    """Return the PEM bundle that is to verify ``url``, chosen by one of the three ways."""
    from hostca.agent.trust import fetch_ca_certificates, select_by_fingerprint

    if ca_file is not None:
        return _read_ca_file(ca_file)

    if fingerprint is not None:
        return _bundle(select_by_fingerprint(fetch_ca_certificates(url), fingerprint))

    if not sys.stdin.isatty():
        raise InvalidRequestError(
            f"the CA of {url} is not confirmed and there is no terminal to ask; pass "
            "--fingerprint SHA256 (shown by `hostca ca show` on the primary) or --ca-file F.",
            code="ca_confirmation_required",
        )
    offered = fetch_ca_certificates(url)
    click.echo(_describe_offered_ca(url, offered), err=as_json)
    if not click.confirm("Trust this CA?", default=False, err=as_json):
        raise ForbiddenError(
            "the CA was not confirmed; nothing was stored and no password was sent.",
            code="trust_not_confirmed",
        )
    return _bundle(offered)


def _read_ca_file(path: Path) -> bytes:
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidRequestError(
            f"{path}: cannot read the CA file: {error.strerror or error}.",
            code="file_unreadable",
        ) from None
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidRequestError(
            f"{path}: not a PEM certificate; give the CA certificate of the primary in PEM.",
            code="ca_file_invalid",
        ) from None
    return data


def _bundle(certificates: list[CaCertificate]) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return b"".join(item.certificate.public_bytes(Encoding.PEM) for item in certificates)


def _describe_offered_ca(url: str, offered: list[CaCertificate]) -> str:
    lines = [f"The server {url} offers this CA (the connection is not verified yet):"]
    for item in offered:
        lines += [
            f"  subject:    {item.subject}",
            f"  not after:  {item.not_after.isoformat().replace('+00:00', 'Z')}",
            f"  SHA-256:    {item.sha256}",
            f"  SHA-1:      {item.sha1}",
        ]
    lines.append("Compare the SHA-256 fingerprint with the one shown on the primary.")
    return "\n".join(lines)


def _log_in(url: str, user: str, password: str, ca_pem: bytes) -> StoredSession:
    """Send the password over a connection verified by ``ca_pem``; store the session."""
    from hostca.apiclient import ApiClient
    from hostca.cli.session import StoredSession, parse_time, save_session

    # The bundle is written to a temporary file for the request, so that a failed
    # login leaves the stored CA of an earlier session in place.
    with tempfile.TemporaryDirectory(prefix="hostca-login-") as directory:
        candidate = Path(directory) / "ca.pem"
        candidate.write_bytes(ca_pem)
        try:
            with ApiClient(url, ca_file=candidate) as client:
                response = client.post_json("/api/v1/login", {"user": user, "password": password})
        except UnavailableError as error:
            raise _explain_untrusted(error, url) from None

    try:
        session = StoredSession(
            server=url,
            secret=str(response["session"]),
            expires_at=parse_time(str(response["expires_at"])),
            user=str(response["user"]),
            role=None if response.get("role") is None else str(response["role"]),
        )
    except (TypeError, KeyError, ValueError, AttributeError):
        raise UnavailableError(
            f"{url} returned a login response without a session; check that --server points "
            "to a hostca primary.",
            code="invalid_response",
        ) from None
    return save_session(session, ca_pem)


def _explain_untrusted(error: UnavailableError, url: str) -> HostcaError:
    if error.code != "server_untrusted":
        return error
    return UnavailableError(
        f"{error.message.split(';')[0]}; the CA given with --ca-file or --fingerprint did not "
        f"sign the TLS certificate of {url}. Check both with the administrator of the primary.",
        code="server_untrusted",
    )


@click.command("logout")
@json_option
def logout(as_json: bool) -> None:
    """End the stored session on the server and delete it from this machine.

    When the server cannot be reached, the session is deleted here only.
    """
    from hostca.apiclient import ApiClient
    from hostca.cli.session import delete_session, load_session

    stored = load_session()
    if stored is None:
        emit({"logged_out": False, "ended_on_server": False}, as_json, "Not logged in.")
        return

    ended_on_server = False
    note = ""
    if stored.is_expired():
        note = "The session had already expired."
    else:
        try:
            with ApiClient(stored.server, ca_file=stored.ca_file, bearer=stored.secret) as client:
                client.post_json("/api/v1/logout")
            ended_on_server = True
        except UnavailableError as error:
            note = (
                f"The server could not be reached ({error.code}), so the session was deleted "
                "on this machine only."
            )
        except HostcaError as error:
            note = f"The server did not end the session: {error.message}"

    removed = delete_session()
    result = {
        "logged_out": True,
        "server": stored.server,
        "user": stored.user,
        "ended_on_server": ended_on_server,
        "removed": [str(path) for path in removed],
        "note": note or None,
    }
    text = f"Logged out {stored.user} from {stored.server}."
    emit(result, as_json, f"{text} {note}".strip())
