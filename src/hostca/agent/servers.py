"""One state directory, several primary servers.

A host may trust and enrol with more than one primary. Each primary gets the
layout that ``StateDir`` describes (its CA bundle, certificate, key, CRL and
``agent.json``). The first primary the agent trusts uses the top level of the
state directory, so a directory written by a single-server agent is read as it
is, without migration. Every further primary gets ``servers/<host>_<port>/``::

    ca.pem, cert.pem, crl.pem, agent.json, private/    the first primary
    servers/
        primary-2.example.test_1556/                   a further primary, same layout

A directory belongs to the server named in its ``agent.json``, whatever the
directory is called.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from hostca.agent.state import StateDir
from hostca.core.errors import InvalidRequestError, NotFoundError

__all__ = ["SERVERS_DIR_NAME", "ServerState", "StateRoot"]

SERVERS_DIR_NAME = "servers"

_UNSAFE_PATH_CHARACTERS = re.compile(r"[^a-z0-9.-]+")


@dataclass(frozen=True)
class ServerState:
    """A primary server that this agent trusts, and the directory of its files."""

    server: str
    state: StateDir


class StateRoot:
    """The agent's state directory, with the files of each primary it trusts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first = StateDir(path)
        self.servers_dir = path / SERVERS_DIR_NAME

    def servers(self) -> list[ServerState]:
        """Return the trusted primaries: the top-level one first, then the others by directory name."""
        found: list[ServerState] = []
        for state in [self.first, *self._further_states()]:
            server = state.read_config().server
            if server is not None:
                found.append(ServerState(server=_normalize(server), state=state))
        return found

    def find(self, server: str) -> StateDir | None:
        """Return the directory of ``server``, or None when the agent does not trust it."""
        url = _normalize(server)
        return next((item.state for item in self.servers() if item.server == url), None)

    def select(self, server: str | None) -> StateDir:
        """Return the directory that a command works on.

        ``server`` is the ``--server`` option. Without it, the only trusted primary
        is chosen. Raises when ``server`` is not trusted, when no primary is, or
        when several are and ``server`` is None.
        """
        if server is not None:
            found = self.find(server)
            if found is None:
                raise self._unknown(_normalize(server))
            return found

        known = self.servers()
        if len(known) == 1:
            return known[0].state
        if not known:
            raise InvalidRequestError(
                "this agent trusts no primary server yet; run `hostca agent trust --server URL` first.",
                code="server_missing",
            )
        raise InvalidRequestError(
            f"this agent trusts several primary servers ({_listing(known)}); "
            "choose one with --server URL.",
            code="server_ambiguous",
        )

    def select_or_first(self, server: str | None) -> StateDir:
        """Like ``select``, but return the top-level directory when no primary is trusted yet.

        Commands that work without a server (``csr``, ``forget``) use it.
        """
        if server is None and not self.servers():
            return self.first
        return self.select(server)

    def select_or_default(self, server: str | None) -> StateDir:
        """Return the directory of ``server``, else of the first trusted primary, else the top level.

        ``status`` uses it: it lists every primary and needs no choice.
        """
        if server is not None:
            return self.select(server)
        known = self.servers()
        return known[0].state if known else self.first

    def directory_for(self, server: str) -> StateDir:
        """Return the directory of ``server``, choosing a new one when it is not trusted yet.

        A new primary takes the top level while no primary has it, otherwise a
        new directory under ``servers/``. Nothing is created here.
        """
        url = _normalize(server)
        found = self.find(url)
        if found is not None:
            return found
        if self.first.read_config().server is None:
            return self.first

        base = _directory_name(url)
        candidate = self.servers_dir / base
        suffix = 2
        while candidate.exists():
            candidate = self.servers_dir / f"{base}-{suffix}"
            suffix += 1
        return StateDir(candidate)

    def remove_empty_servers_dir(self) -> None:
        """Delete ``servers/`` once the last further primary is forgotten."""
        with contextlib.suppress(OSError):
            self.servers_dir.rmdir()

    def _further_states(self) -> list[StateDir]:
        if not self.servers_dir.is_dir():
            return []
        return [
            StateDir(directory)
            for directory in sorted(self.servers_dir.iterdir())
            if directory.is_dir() and (directory / "agent.json").is_file()
        ]

    def _unknown(self, url: str) -> NotFoundError:
        known = self.servers()
        trusted = f"; it trusts {_listing(known)}" if known else ""
        return NotFoundError(
            f"{url}: this agent does not trust that primary server{trusted}. "
            f"Run `hostca agent trust --server {url}` first, or check --server.",
            code="server_unknown",
        )


def _normalize(server: str) -> str:
    from hostca.apiclient import normalize_server_url

    return normalize_server_url(server)


def _listing(servers: list[ServerState]) -> str:
    return ", ".join(item.server for item in servers)


def _directory_name(url: str) -> str:
    """Return ``host_port`` for ``https://host:port``, with only safe characters."""
    authority = url.removeprefix("https://")
    host, _, port = authority.rpartition(":")
    safe_host = _UNSAFE_PATH_CHARACTERS.sub("_", host.strip("[]").lower()).strip("._") or "server"
    return f"{safe_host}_{port}"
