"""Connections from the agent to its primary server, always over verified HTTPS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hostca.agent import clock
from hostca.agent.state import AgentConfig, StateDir
from hostca.core.errors import InvalidRequestError

if TYPE_CHECKING:
    from hostca.apiclient import ApiClient

__all__ = ["DEFAULT_TIMEOUT", "connect", "resolve_server"]

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for a connection and for each read."""


def resolve_server(server: str | None, config: AgentConfig) -> str:
    """Return the normalized server URL from ``--server``, else from ``agent.json``."""
    from hostca.apiclient import normalize_server_url

    if server:
        return normalize_server_url(server)
    if config.server:
        return normalize_server_url(config.server)
    raise InvalidRequestError(
        "no primary server is known yet; pass --server HOST[:PORT].", code="server_missing"
    )


def connect(
    state: StateDir, server: str, *, mutual_tls: bool = False, timeout: float = DEFAULT_TIMEOUT
) -> ApiClient:
    """Open a client that verifies the server against the trusted CA bundle.

    With ``mutual_tls`` the client presents the host's certificate and key. Every
    request carries the agent's time, so that the primary can report clock skew.
    """
    from hostca.agent.certificates import load_ca_bundle, load_certificate, load_private_key
    from hostca.apiclient import ApiClient

    # Loading first turns a missing or unreadable file into an error that names
    # the next step, instead of an SSL error from the handshake.
    load_ca_bundle(state)
    client_certificate = None
    if mutual_tls:
        load_certificate(state)
        load_private_key(state)
        client_certificate = (state.certificate_file, state.key_file)

    return ApiClient(
        server,
        ca_file=state.ca_file,
        client_cert=client_certificate,
        timeout=timeout,
        client_clock=clock.now,
    )
