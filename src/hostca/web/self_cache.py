"""Serve ``GET /api/v1/self`` from a cache while the SQLite database has not changed.

Every host polls ``/self``. On SQLite, the framework's request path and four reads
cost far more than the response itself. So the route caches each response it
sends, tagged with the database's data version read before the database was read
(see ``hostca.store.change_watch``). A later poll with the same client
certificate gets the cached response only if no connection has committed since
then and the certificate is within its validity dates. Any commit, including a
revocation in another worker or process, empties the cache, so a cached response
is never staler than a read of the database. Every other case, including
rejections and their audit events, goes through the route. The application
checks the cache before any framework layer runs (``hostca.web.app``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.types import Scope, Send

from hostca.service.context import ServiceContext

__all__ = ["SELF_PATH", "SelfResponseCache", "send_cached_self"]

SELF_PATH = "/api/v1/self"
# An entry (certificate and response) takes about 1.3 KB, so a full cache takes
# about 27 MB per worker. A full cache is emptied and starts over.
MAX_ENTRIES = 20_000


@dataclass(frozen=True, slots=True)
class _Entry:
    version: int
    body: bytes
    not_before: datetime
    not_after: datetime


class SelfResponseCache:
    """Cached ``/self`` response bodies, by the DER of the client certificate they were sent to."""

    def __init__(self) -> None:
        self._entries: dict[bytes, _Entry] = {}
        self._version: int | None = None

    def version(self, context: ServiceContext) -> int | None:
        """Return the data version to store with a response, or None where nothing is cached."""
        watch = context.database.change_watch()
        return watch.version() if watch is not None else None

    def store(
        self,
        peer_der: bytes,
        version: int | None,
        body: bytes,
        not_before: datetime,
        not_after: datetime,
    ) -> None:
        """Cache ``body`` for the certificate, tagged with the version read before the database."""
        if version is None:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[peer_der] = _Entry(version, body, not_before, not_after)

    def lookup(self, context: ServiceContext, peer_der: bytes) -> bytes | None:
        """Return the cached body for this certificate if it is still current, else None."""
        entry = self._entries.get(peer_der)
        if entry is None:
            return None
        version = self.version(context)
        if version != self._version:
            # A commit happened, so every cached response may be stale.
            self._version = version
            self._entries = {}
        if entry.version != version:
            return None
        now = context.clock()
        if not entry.not_before <= now < entry.not_after:
            return None  # the route rejects the certificate and audits the rejection
        return entry.body


async def send_cached_self(
    cache: SelfResponseCache, context: ServiceContext | None, scope: Scope, send: Send
) -> bool:
    """Send the cached response if ``scope`` is a ``GET /api/v1/self`` that has one; return whether it did."""
    if scope["type"] != "http" or scope["path"] != SELF_PATH or scope["method"] != "GET":
        return False
    tls = scope.get("extensions", {}).get("tls") or {}
    peer_der = tls.get("client_cert_der")
    if not peer_der or context is None:
        return False
    body = cache.lookup(context, peer_der)
    if body is None:
        return False
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return True
