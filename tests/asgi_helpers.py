"""Helpers for tests that drive the ASGI application in process."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class PeerCertificateApp:
    """Put ``peer_der`` into each request's TLS scope, as the server's TLS protocol does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.peer_der: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.peer_der is not None:
            scope = {**scope, "extensions": {"tls": {"client_cert_der": self.peer_der}}}
        await self.app(scope, receive, send)
