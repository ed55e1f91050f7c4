"""The ``hostca`` command: groups are imported only when they run, to keep start-up fast."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from hostca.cli.output import print_error
from hostca.core.errors import HostcaError

__all__ = ["cli", "main"]

# Each group lives in its own module, loaded on first use.
_GROUPS = {
    "apikey": ("hostca.cli.apikey_commands", "apikey", "Create, list and revoke API keys."),
    "agent": (
        "hostca.cli.agent_commands",
        "agent",
        "Host side: trust the CA, enrol, renew, status.",
    ),
    "audit": ("hostca.cli.audit_commands", "audit", "List, verify and export audit events."),
    "ca": ("hostca.cli.ca_commands", "ca", "Show the certificate authority."),
    "cert": ("hostca.cli.cert_commands", "cert", "List, show, revoke and sign certificates."),
    "crl": ("hostca.cli.ca_commands", "crl", "Show the current certificate revocation list."),
    "host": (
        "hostca.cli.host_commands",
        "host",
        "List, show and pre-register hosts; manage mappings.",
    ),
    "login": ("hostca.cli.session_commands", "login", "Log in to a primary server."),
    "logout": ("hostca.cli.session_commands", "logout", "End the stored session."),
    "server": ("hostca.cli.server_commands", "server", "Initialize and run the primary server."),
    "settings": ("hostca.cli.settings_commands", "settings", "Show and change domain settings."),
    "token": ("hostca.cli.token_commands", "token", "Create, list, show and delete tokens."),
    "user": (
        "hostca.cli.user_commands",
        "user",
        "Add, list and disable administrators; set passwords.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when they are invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_GROUPS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _GROUPS:
            module_name, attribute, _help = _GROUPS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Describe the groups without importing them.
        rows = [(name, _GROUPS[name][2]) for name in sorted(_GROUPS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="hostca")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """hostca: certificate authority and host identity service.

    The primary server runs the CA and its HTTPS API (`hostca server`).
    Administrators log in and manage tokens, hosts and certificates.
    Hosts enrol and renew with `hostca agent`.
    """
    ctx.meta["hostca.debug"] = debug


def run(command: click.Command, argv: list[str] | None = None, prog_name: str = "hostca") -> int:
    """Run a click command with hostca's error conventions and return its exit status."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # Errors are printed after the click context has closed, so decide the format
    # from the arguments. The compatibility commands spell it -json.
    as_json = any(arg in ("--json", "-json", "-json_compact") for arg in args)
    try:
        with command.make_context(prog_name, list(args)) as ctx:
            command.invoke(ctx)
    except HostcaError as error:
        if debug:
            raise
        print_error(error.code, error.message, as_json=as_json)
        return 1
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    except click.UsageError as error:
        hint = f" Try '{error.ctx.command_path} --help'." if error.ctx is not None else ""
        print_error("usage_error", f"{error.format_message()}{hint}", as_json=as_json)
        return error.exit_code
    except click.ClickException as error:
        print_error("invalid_request", error.format_message(), as_json=as_json)
        return error.exit_code
    except BrokenPipeError:
        # The reader of our output went away, as with 'hostca audit export | head'. Point
        # stdout at /dev/null so that flushing it at exit raises nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except click.exceptions.Abort:
        sys.stderr.write("Aborted.\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130
    except Exception as error:
        if debug:
            raise
        print_error(
            "internal_error",
            f"internal error: {error.__class__.__name__}: {error}; run again with --debug for details.",
            as_json=as_json,
        )
        return 2
    return 0


def main(argv: list[str] | None = None) -> Any:
    sys.exit(run(cli, argv))
