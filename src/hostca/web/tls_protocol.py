"""A uvicorn protocol that passes the verified client certificate to the application.

uvicorn 0.55 verifies client certificates but leaves the ASGI ``tls`` scope extension
empty. This subclass reads the peer certificate once per connection and puts it into
``scope["extensions"]["tls"]``. Besides the standard ``client_cert_chain`` (PEM), it
adds ``client_cert_der`` so that the application need not decode PEM on every request.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["PeerCertificateProtocol"]


class PeerCertificateProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that exposes the TLS peer certificate in the ASGI scope."""

    _tls_extension: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            self._tls_extension = None
            return
        der = ssl_object.getpeercert(binary_form=True)
        self._tls_extension = {
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_der": der,
            "tls_version": ssl_object.version(),
            "cipher_suite": (ssl_object.cipher() or (None,))[0],
        }

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls_extension is not None:
            extensions: dict[str, Any] = {"tls": self._tls_extension}
            self.scope["extensions"] = extensions
