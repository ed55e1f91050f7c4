"""``hostca agent``: the host side. Trust the CA, enrol, renew, check and forget.

The commands are thin: each one reads its options, calls one function of
``hostca.agent`` and prints the result. Modules that need httpx or most of
cryptography are imported inside the commands, so ``hostca agent status`` and
``--help`` start without them.

An agent may trust several primaries. Every command takes ``--server`` to
choose one, and needs it only when the agent trusts more than one.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hostca.agent.servers import StateRoot
from hostca.agent.state import StateDir, default_state_dir, write_file_atomically
from hostca.cli.output import emit, format_time, json_option, print_error
from hostca.core.errors import ForbiddenError, InvalidRequestError
from hostca.core.keys import HOST_KEY_TYPES

if TYPE_CHECKING:
    from hostca.agent.certificates import IssuedCertificate
    from hostca.agent.trust import CaCertificate

__all__ = ["agent"]

DEFAULT_TIMEOUT_SECONDS = 30.0
# Stands for "--token given without a value": the value is then prompted for.
_PROMPT_MARKER = "\0prompt"

_SERVER_HELP = "Primary server as HOST, HOST:PORT or https://HOST[:PORT]; the default port is 1556."
_CHOOSE_SERVER_HELP = (
    f"{_SERVER_HELP} Chooses one of the primaries this agent trusts; needed only when it "
    "trusts several."
)

# `hostca agent run` exits with this status when a certificate can no longer be
# used and only a reissue token helps (EX_NOPERM of sysexits.h), so that a
# service manager can tell it from a failure that a restart may cure.
EXIT_REISSUE_TOKEN_REQUIRED = 77

# `hostca agent clock-skew` exits with this status when the skew exceeds the tolerance.
EXIT_CLOCK_SKEW_TOO_LARGE = 1

_PUBLIC_FILE_MODE = 0o644


@dataclass(frozen=True)
class AgentContext:
    """Options of the ``agent`` group that every subcommand uses."""

    home: StateRoot
    timeout: float


def server_option(function: Any) -> Any:
    """Add ``--server`` that chooses one of the trusted primaries."""
    return click.option("--server", metavar="URL", help=_CHOOSE_SERVER_HELP)(function)


pass_agent_context = click.make_pass_decorator(AgentContext)


@click.group("agent")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HOSTCA_STATE_DIR",
    help="Directory of the agent's key, certificate, trusted CA and settings "
    "[env: HOSTCA_STATE_DIR]. Default: /var/lib/hostca-agent for root, "
    "otherwise $XDG_DATA_HOME/hostca-agent (~/.local/share/hostca-agent).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds to wait for a connection to the primary and for each response.",
)
@click.pass_context
def agent(ctx: click.Context, state_dir: Path | None, timeout: float) -> None:
    """Host side: trust the CA, enrol, renew, check and forget this host's certificate.

    `hostca agent run` keeps the certificate renewed, and `csr` with
    `install-cert` serve hosts that cannot reach the primary. The private key
    is created on this host and never leaves it.
    """
    ctx.obj = AgentContext(home=StateRoot(state_dir or default_state_dir()), timeout=timeout)


@agent.command()
@click.option("--server", required=True, help=_SERVER_HELP)
@click.option(
    "--fingerprint",
    metavar="SHA256",
    help="Expected SHA-256 fingerprint of the CA certificate, as 64 hex digits with or "
    "without colons (a SHA-1 fingerprint is accepted too). Without it, the command "
    "asks for confirmation.",
)
@json_option
@pass_agent_context
def trust(context: AgentContext, server: str, fingerprint: str | None, as_json: bool) -> None:
    """Fetch the primary's CA certificate and trust it after confirmation.

    The certificate is fetched without verifying the server, so compare its
    fingerprint with the one the administrator shows with `hostca ca show`.
    It is stored only after you confirm it, or when --fingerprint matches.
    """
    from hostca.agent.trust import fetch_ca_certificates, select_by_fingerprint, store_trusted_ca
    from hostca.apiclient import normalize_server_url
    from hostca.core.fingerprints import normalize_fingerprint

    url = normalize_server_url(server)
    if fingerprint is not None:
        normalize_fingerprint(fingerprint)  # Reject a malformed value before any traffic.
    state = context.home.directory_for(url)
    offered = fetch_ca_certificates(url, timeout=context.timeout)

    if fingerprint is not None:
        trusted = select_by_fingerprint(offered, fingerprint)
    else:
        click.echo(_describe_offered_ca(url, offered), err=as_json)
        if state.ca_file.exists():
            click.echo(f"This replaces the CA bundle in {state.ca_file}.", err=as_json)
        try:
            confirmed = click.confirm("Trust this CA?", default=False, err=as_json)
        except click.exceptions.Abort:
            # No answer came, as when standard input is empty or closed. The prompt
            # left its line open, so end it before the error line is printed.
            click.echo(err=as_json)
            raise InvalidRequestError(
                "no answer to 'Trust this CA?', so nothing was stored; compare the fingerprint above "
                "with the one the primary printed, then pass it with --fingerprint.",
                code="confirmation_required",
            ) from None
        if not confirmed:
            raise ForbiddenError(
                "the CA was not confirmed; nothing was stored.", code="trust_not_confirmed"
            )
        trusted = offered

    store_trusted_ca(state, trusted, url)
    result = {
        "server": url,
        "ca_file": str(state.ca_file),
        "certificates": [item.to_json() for item in trusted],
    }
    server_option_text = f" --server {url}" if len(context.home.servers()) > 1 else ""
    next_step, warning = _next_step_after_trust(state, server_option_text)
    if warning is not None:
        result["warnings"] = [warning]
        click.echo(f"hostca: warning: {warning}", err=True)
    emit(result, as_json, f"Stored the trusted CA in {state.ca_file}. {next_step}")


@agent.command()
@server_option
@click.option(
    "--token",
    "token",
    is_flag=False,
    flag_value=_PROMPT_MARKER,
    default=None,
    help="Authorization or reissue token: 16 letters, case, spaces and dashes ignored. "
    "Given without a value, it is prompted for without echo. A value on the command "
    "line is visible to other users of this host, so prefer the prompt, --token-file "
    "or --token-env.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File that contains the token value.",
)
@click.option(
    "--token-env",
    metavar="VAR",
    help="Name of the environment variable that contains the token value.",
)
@click.option(
    "--name",
    help="Primary name of this host, a DNS name. Default: the primary name this state "
    "directory last enrolled with, else this machine's FQDN.",
)
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    help="Further name of this host, a DNS name or an IP address. Repeat for several. "
    "Names not yet mapped to this host wait for approval on the primary.",
)
@click.option(
    "--key-type",
    type=click.Choice(HOST_KEY_TYPES),
    default="ec-p256",
    show_default=True,
    help="Type of the new private key.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing key and certificate. A reissue is run this way, usually "
    "with a reissue token.",
)
@json_option
@pass_agent_context
def enroll(
    context: AgentContext,
    server: str | None,
    token: str | None,
    token_file: Path | None,
    token_env: str | None,
    name: str | None,
    aliases: tuple[str, ...],
    key_type: str,
    force: bool,
    as_json: bool,
) -> None:
    """Create a new key and obtain this host's certificate from the primary.

    Without a token, the primary's deployment policy decides whether the host may
    enrol. The old key and certificate stay in place until the new certificate
    has arrived and been checked.
    """
    from hostca.agent.clock import time_errors_explained
    from hostca.agent.enroll import EnrollRequest
    from hostca.agent.enroll import enroll as run_enroll

    state = context.home.select(server)
    config = state.read_config()
    url = config.server
    request = EnrollRequest(
        primary_name=_host_name(name, config.names),
        aliases=aliases,
        server=url,
        key_type=key_type,
        token=_read_token(token, token_file, token_env),
        force=force,
    )
    with time_errors_explained(state, url, timeout=context.timeout):
        issued = run_enroll(state, request, timeout=context.timeout)
    result = _issued_result(state, issued, requested=[request.primary_name, *aliases])
    emit(result, as_json, lambda data: _render_issued("Enrolled", data))


@agent.command()
@click.option(
    "--rekey",
    is_flag=True,
    help="Create a new private key and certify it instead of the current one. The key "
    "type is the one chosen at enrolment (ec-p256 when agent.json does not record it).",
)
@server_option
@json_option
@pass_agent_context
def renew(context: AgentContext, rekey: bool, server: str | None, as_json: bool) -> None:
    """Renew this host's certificate over mutual TLS with the current certificate.

    No token is needed while the current certificate is valid. Renew once less
    than half of the lifetime is left, the "renew after" time of `hostca agent status`.
    """
    from hostca.agent.clock import time_errors_explained
    from hostca.agent.renew import renew as run_renew

    state = context.home.select(server)
    with time_errors_explained(state, state.read_config().server, timeout=context.timeout):
        issued = run_renew(state, rekey=rekey, timeout=context.timeout)
    result = _issued_result(state, issued, requested=list(issued.names))
    emit(result, as_json, lambda data: _render_issued("Renewed", data))


@agent.command()
@server_option
@json_option
@pass_agent_context
def status(context: AgentContext, server: str | None, as_json: bool) -> None:
    """Show this host's identity, certificates and files, without contacting a primary.

    Lists every primary this agent trusts. With --json, the top-level keys
    describe the primary chosen with --server, else the only or first one,
    and `servers` lists them all. Times are UTC. The renew-after time is when
    half of the lifetime is left.
    """
    from hostca.agent.status import describe_status

    home = context.home
    chosen = home.select_or_default(server)
    reports = [
        {**describe_status(item.state), "state_dir": str(item.state.root)}
        for item in home.servers()
    ]
    result = {**describe_status(chosen), "servers": reports}
    emit(result, as_json, _render_status)


@agent.command("self-check")
@server_option
@json_option
@pass_agent_context
def self_check(context: AgentContext, server: str | None, as_json: bool) -> None:
    """Check with the primary, over mutual TLS, that this host's certificate is usable.

    Also checks the validity period, this host's clock against the primary's and,
    if `hostca agent crl fetch` stored one, the local CRL. Exits with status 1
    when the certificate is revoked, expired or otherwise not usable.
    """
    from hostca.agent.selfcheck import self_check as run_self_check

    report = run_self_check(context.home.select(server), timeout=context.timeout)
    emit(report, as_json, _render_self_check)
    if report["status"] != "valid":
        raise click.exceptions.Exit(1)


@agent.group()
def crl() -> None:
    """Fetch the certificate revocation list of the primary."""


@crl.command("fetch")
@server_option
@json_option
@pass_agent_context
def crl_fetch(context: AgentContext, server: str | None, as_json: bool) -> None:
    """Download the CRL, verify its signature with the trusted CA, and store it.

    A CRL whose CRL number is lower than the stored one is rejected.
    """
    from hostca.agent.connection import resolve_server
    from hostca.agent.crl import fetch_crl

    state = context.home.select(server)
    summary = fetch_crl(state, resolve_server(None, state.read_config()), timeout=context.timeout)
    result = {"crl_file": str(state.crl_file), **summary.to_json()}
    emit(
        result,
        as_json,
        f"Stored CRL number {summary.crl_number} ({summary.revoked_count} revoked, "
        f"next update {format_time(summary.next_update)}) in {state.crl_file}.",
    )


@agent.command("clock-skew")
@server_option
@json_option
@pass_agent_context
def clock_skew(context: AgentContext, server: str | None, as_json: bool) -> None:
    """Measure how far this host's clock is from the primary's.

    Requests the primary's time (GET /api/v1/time) three times and uses the
    response with the shortest round trip, assuming the primary read its clock
    halfway through it. A positive skew means this host's clock is ahead.

    Exits with status 1, after a warning on stderr, when the skew is more than
    300 s either way. The primary backdates certificates by only 5 minutes, so
    a host clock that is further behind treats a new certificate as not yet valid.
    """
    from hostca.agent.clock import TOLERATED_SKEW_SECONDS, measure_clock_skew
    from hostca.agent.connection import resolve_server

    state = context.home.select(server)
    url = resolve_server(None, state.read_config())
    skew = measure_clock_skew(state, url, timeout=context.timeout)
    emit({"server": url, **skew.to_json()}, as_json, skew.describe())
    if not skew.within_tolerance:
        click.echo(
            f"hostca: warning: the clock skew of {skew.skew_seconds:+.1f} s exceeds the "
            f"tolerance of {TOLERATED_SKEW_SECONDS:.0f} s, so certificates and tokens may look "
            "expired or not yet valid on this host. Correct this host's clock (for example "
            "with NTP).",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_CLOCK_SKEW_TOO_LARGE)


@agent.command()
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write the CSR to (PEM). It must not exist yet.",
)
@click.option(
    "--name",
    help="Primary name of this host, a DNS name. Default: the primary name this state "
    "directory last enrolled with, else this machine's FQDN.",
)
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    help="Further name of this host, a DNS name or an IP address. Repeat for several.",
)
@click.option(
    "--key-type",
    type=click.Choice(HOST_KEY_TYPES),
    default="ec-p256",
    show_default=True,
    help="Type of the new private key.",
)
@server_option
@json_option
@pass_agent_context
def csr(
    context: AgentContext,
    out_file: Path,
    name: str | None,
    aliases: tuple[str, ...],
    key_type: str,
    server: str | None,
    as_json: bool,
) -> None:
    """Create a new key and write its CSR, for a host that cannot reach the primary.

    The new key waits in the state directory as the pending key; the current
    key and certificate stay in use. Carry the CSR to the administrator, who
    runs `hostca cert sign`, and install the result with `hostca agent
    install-cert FILE`. Running this command again replaces the pending key.
    """
    from hostca.agent.offline import CsrRequest, create_pending_request

    if out_file.exists():
        raise InvalidRequestError(
            f"{out_file}: already exists; choose another --out file or remove it first.",
            code="file_exists",
        )
    state = context.home.select_or_first(server)
    request = CsrRequest(
        primary_name=_host_name(name, state.read_config().names),
        aliases=aliases,
        key_type=key_type,
    )
    pending = create_pending_request(state, request)
    write_file_atomically(out_file, pending.csr_pem, _PUBLIC_FILE_MODE)

    result = {
        "csr_file": str(out_file),
        "names": list(pending.names),
        "key_type": key_type,
        "pending_key_file": str(pending.key_file),
        "replaced_pending_key": pending.replaced_pending_key,
        "server": state.read_config().server,
    }
    replaced = " It replaces the previous pending key." if pending.replaced_pending_key else ""
    emit(
        result,
        as_json,
        f"Wrote the CSR for {', '.join(pending.names)} to {out_file}. The new key waits in "
        f"{pending.key_file}.{replaced}\nHave the administrator sign it with `hostca cert sign "
        f"--csr {out_file.name} --token VALUE --out FILE`, then run `hostca agent install-cert FILE`.",
    )


@agent.command("install-cert")
@click.argument("certificate_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@server_option
@json_option
@pass_agent_context
def install_cert(
    context: AgentContext, certificate_file: Path, server: str | None, as_json: bool
) -> None:
    """Install the certificate issued for the CSR of `hostca agent csr`.

    CERTIFICATE_FILE is PEM, as `hostca cert sign` writes it; CA certificates
    after the host's certificate are ignored. The certificate must certify the
    pending key and be issued by the trusted CA. Then the pending key and the
    certificate replace the current ones together.
    """
    from hostca.agent.offline import install_certificate

    state = context.home.select_or_first(server)
    issued = install_certificate(state, certificate_file, timeout=context.timeout)
    result = _issued_result(state, issued, requested=list(issued.names))
    emit(result, as_json, lambda data: _render_issued("Installed the certificate of", data))


@agent.command()
@click.option(
    "--once",
    is_flag=True,
    help="Check every primary once, renew or refresh what is due, and exit.",
)
@click.option(
    "--check-interval",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between two checks of the certificate and the CRL.",
)
@click.option(
    "--rekey",
    is_flag=True,
    help="Renew with a new private key each time, instead of the current one.",
)
@server_option
@pass_agent_context
@click.pass_context
def run(
    ctx: click.Context,
    context: AgentContext,
    once: bool,
    check_interval: float,
    rekey: bool,
    server: str | None,
) -> None:
    """Keep this host's certificates renewed and its CRLs fresh, until stopped.

    Renews a certificate over mutual TLS once less than half of its lifetime
    is left, and refreshes the CRL at the interval of the primary's security
    level (1 h at very-high, 4 h at high, 8 h at medium), or more often where
    crl_refresh_hours in agent.json sets a shorter interval. While a primary is
    unreachable, the check is retried with exponential backoff. A certificate
    that expired or was revoked is reissued without a token only if the
    primary has an auto-reissue window open for this host.

    Without --server, looks after every primary this agent trusts. Logs one
    JSON object per event on stderr. Stops after the current step on SIGTERM
    or SIGINT, with exit status 0. Exits with status 77 when a certificate
    can no longer be used and a reissue token is needed, and 1 on other errors.
    """
    from hostca.agent.daemon import AgentDaemon, DaemonOptions, ReissueTokenRequiredError
    from hostca.agent.shutdown import stop_on_signals

    _configure_logging(debug=bool(ctx.find_root().meta.get("hostca.debug")))
    home = context.home
    servers = home.servers()
    if server is not None:
        chosen = home.select(server)
        servers = [item for item in servers if item.state.root == chosen.root]
    if not servers:
        home.select(None)  # Raises the error that names the next step: trust a primary.

    options = DaemonOptions(
        check_interval=check_interval, once=once, rekey=rekey, timeout=context.timeout
    )
    with stop_on_signals() as stop:
        try:
            AgentDaemon(servers, options, stop).run()
        except ReissueTokenRequiredError as error:
            print_error(error.code, error.message)
            raise click.exceptions.Exit(EXIT_REISSUE_TOKEN_REQUIRED) from None


@agent.command()
@click.option("--force", is_flag=True, help="Delete without asking for confirmation.")
@server_option
@pass_agent_context
def forget(context: AgentContext, force: bool, server: str | None) -> None:
    """Delete this host's key, certificate, CRL, trusted CA and settings for one primary.

    Nothing of that primary is kept; other trusted primaries stay. To get a
    certificate again, the host needs `hostca agent trust` and a new token
    from the administrator. The certificate stays valid on the primary until
    an administrator revokes it. Without --force, the command prompts for
    confirmation, and fails when standard input is empty or closed.
    """
    home = context.home
    state = home.select_or_first(server)
    url = state.read_config().server
    of_server = f" of {url}" if url else ""
    if not state.forgettable_files():
        click.echo(
            f"Nothing to forget{of_server}: {state.root} contains no key, certificate, CRL, "
            "trusted CA or settings."
        )
        return
    if not force:
        _confirm_forget(
            f"Delete the key, certificate, CRL, trusted CA and settings{of_server} in {state.root}?"
        )

    deleted = state.forget()
    home.remove_empty_servers_dir()
    click.echo(f"Deleted {len(deleted)} files{of_server} from {state.root}.")


def _confirm_forget(question: str) -> None:
    """Ask ``question``, and raise ``forget_not_confirmed`` unless the answer is yes."""
    try:
        confirmed = click.confirm(question, default=False)
    except click.exceptions.Abort:
        # No answer came, as when standard input is empty or closed. The prompt
        # left its line open, so end it before the error line is printed.
        click.echo()
        raise ForbiddenError(
            "no answer to the confirmation prompt, so nothing was deleted; pass --force to "
            "delete without confirmation.",
            code="forget_not_confirmed",
        ) from None
    if not confirmed:
        raise ForbiddenError("nothing was deleted.", code="forget_not_confirmed")


def _configure_logging(*, debug: bool) -> None:
    """Log one JSON object per event on stderr, as the server does."""
    import logging
    import sys

    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if debug else logging.INFO
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached: the daemon logs a few events a minute, and tests that run the
        # command in process can still capture the events afterwards.
        cache_logger_on_first_use=False,
    )


def _host_name(name: str | None, enrolled_names: Sequence[str]) -> str:
    """Return the name to request: --name, else the enrolled primary name, else this machine's FQDN.

    A reissue with ``enroll --force`` keeps the host's primary name, which may differ
    from the machine's own name. The FQDN falls back to the host name when it is
    localhost.
    """
    if name is not None:
        if not name.strip():
            raise InvalidRequestError(
                "--name is empty; give the host's DNS name.", code="name_invalid"
            )
        return name
    if enrolled_names:
        return enrolled_names[0]
    fqdn = socket.getfqdn()
    if not fqdn or fqdn.startswith("localhost"):
        return socket.gethostname() or fqdn
    return fqdn


def _read_token(token: str | None, token_file: Path | None, token_env: str | None) -> str | None:
    """Return the token value from the one source given, or None when none is given."""
    sources = [option for option, value in _token_sources(token, token_file, token_env) if value]
    if len(sources) > 1:
        raise click.UsageError(f"{' and '.join(sources)} are mutually exclusive; give one.")

    if token == _PROMPT_MARKER:
        if not sys.stdin.isatty():
            # Piped in, as in 'cat token.txt | hostca agent enroll --token': read a line, no prompt.
            return sys.stdin.readline().strip()
        value: str = click.prompt("Token", hide_input=True, err=True)
        return value
    if token is not None:
        return token
    if token_file is not None:
        return _read_token_file(token_file)
    if token_env is not None:
        return _read_token_variable(token_env)
    return None


def _token_sources(
    token: str | None, token_file: Path | None, token_env: str | None
) -> list[tuple[str, bool]]:
    return [
        ("--token", token is not None),
        ("--token-file", token_file is not None),
        ("--token-env", token_env is not None),
    ]


def _read_token_file(path: Path) -> str:
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise InvalidRequestError(f"{path}: the token file is empty.", code="token_missing")
    return value


def _read_token_variable(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise InvalidRequestError(
            f"{name}: the environment variable is not set or empty; export the token "
            "value in it or use --token.",
            code="token_missing",
        )
    return value


def _issued_result(
    state: StateDir, issued: IssuedCertificate, requested: list[str]
) -> dict[str, Any]:
    from hostca.core.names import normalize_names

    pending = [name for name in normalize_names(requested) if name not in issued.names]
    return {
        "host_id": issued.host_id,
        "serial_number": issued.serial_number,
        "names": list(issued.names),
        "not_after": issued.not_after,
        "pending_names": pending,
        "certificate_file": str(state.certificate_file),
        "key_file": str(state.key_file),
        "ca_file": str(state.ca_file),
        "server": state.read_config().server,
    }


def _describe_offered_ca(url: str, offered: list[CaCertificate]) -> str:
    lines = [f"CA certificate offered by {url}:"]
    for item in offered:
        lines += [
            f"  subject              {item.subject}",
            f"  SHA-256 fingerprint  {item.sha256}",
            f"  SHA-1 fingerprint    {item.sha1}",
            f"  not after            {format_time(item.not_after)}",
        ]
    lines.append(
        "Compare the SHA-256 fingerprint with the one the administrator of the primary "
        "gives you (`hostca ca show`)."
    )
    return "\n".join(lines)


def _render_issued(verb: str, data: dict[str, Any]) -> str:
    lines = [
        f"{verb} host {data['host_id']}.",
        f"  serial number  {data['serial_number']}",
        f"  names          {', '.join(data['names'])}",
        f"  not after      {format_time(data['not_after'])}",
        f"  certificate    {data['certificate_file']}",
        f"  key            {data['key_file']}",
    ]
    if data["pending_names"]:
        lines.append(
            f"Not in the certificate: {', '.join(data['pending_names'])}. These names wait "
            "for approval on the primary, or belong to another host."
        )
    return "\n".join(lines)


def _render_status(data: dict[str, Any]) -> str:
    servers = data["servers"]
    if len(servers) <= 1:
        return _render_server_status(data)
    blocks = [f"This agent trusts {len(servers)} primary servers."]
    blocks += [_render_server_status(server) for server in servers]
    return "\n\n".join(blocks)


def _render_server_status(data: dict[str, Any]) -> str:
    rows = [
        ("status", data["status"]),
        ("host ID", data["host_id"]),
        ("names", ", ".join(data["names"]) or None),
        ("serial number", data["serial_number"]),
        ("not before", data["not_before"]),
        ("not after", data["not_after"]),
        ("renew after", data["renew_after"]),
        ("SHA-256", data["fingerprint_sha256"]),
        ("key type", data["key_type"]),
        ("server", data["server"]),
        ("certificate", data["certificate_file"]),
        ("key", data["key_file"]),
        ("CA bundle", data["ca_file"] if data["ca_trusted"] else f"{data['ca_file']} (missing)"),
    ]
    return "\n".join(f"{label:<14} {format_time(value)}" for label, value in rows)


def _render_self_check(report: dict[str, Any]) -> str:
    server = report["server"]
    crl = report["crl"]
    lines = [
        f"Certificate {report['serial_number']} of host {report['host_id'] or '-'}: "
        f"{report['status']}",
        f"  validity period  {report['local_status']}, not after "
        f"{format_time(report['not_after'])}",
        f"  primary          {server['status']} ({server['url']})",
    ]
    if server.get("message"):
        lines.append(f"                   {server['message']}")

    lines.append(f"  clock            {report['clock']['message']}")
    if not crl["checked"]:
        lines.append("  local CRL        none; run `hostca agent crl fetch`")
    elif crl["revocation"] is not None:
        revocation = crl["revocation"]
        lines.append(
            f"  local CRL        revoked on {format_time(revocation['revocation_date'])}, "
            f"reason {revocation['reason']}"
        )
    else:
        stale = ", out of date" if crl["stale"] else ""
        lines.append(f"  local CRL        not listed (CRL number {crl['crl_number']}{stale})")
    return "\n".join(lines)


def _next_step_after_trust(state: StateDir, server_option_text: str) -> tuple[str, str | None]:
    """Return the next step after ``trust``, and a warning when the stored certificate no longer chains."""
    from hostca.agent import clock
    from hostca.agent.certificates import (
        check_issuer,
        format_serial_number,
        load_ca_bundle,
        load_certificate,
    )
    from hostca.agent.status import local_certificate_status
    from hostca.core.errors import ConflictError

    if not state.certificate_file.is_file():
        return (
            f"Next, run `hostca agent enroll{server_option_text}` with a token from the "
            "administrator.",
            None,
        )

    certificate = load_certificate(state)
    serial_number = format_serial_number(certificate.serial_number)
    reenrol = f"`hostca agent enroll --force --token{server_option_text}`"
    try:
        check_issuer(certificate, load_ca_bundle(state))
    except ConflictError:
        warning = (
            f"{state.certificate_file}: certificate {serial_number} was issued by "
            f"{certificate.issuer.rfc4514_string()} and no longer chains to the trusted CA, so "
            "this host must enrol again. Ask the administrator for a reissue token and run "
            f"{reenrol}."
        )
        return f"This host must enrol again with {reenrol} and a reissue token.", warning

    status = local_certificate_status(state, certificate, clock.now())
    if status in ("valid", "renew_due"):
        return (
            f"This host already has a valid certificate from this CA (serial number "
            f"{serial_number}), so it needs no enrolment.",
            None,
        )
    return (
        f"The certificate from this CA in {state.certificate_file} is {status.replace('_', ' ')}. "
        f"Run {reenrol} with a reissue token from the administrator.",
        None,
    )
