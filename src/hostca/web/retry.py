"""Run a request again when its transaction lost a serialization conflict or a deadlock.

On PostgreSQL two replicas may lock the same rows in different orders, and the
database then aborts one transaction with a deadlock or serialization failure.
Its changes are rolled back whole, so the request can simply run again. A bound
on the attempts keeps a conflict that never clears from holding the request.
"""

from __future__ import annotations

import asyncio
import random

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hostca.store.database import is_transient_error

__all__ = ["TransientRetryMiddleware"]

log = structlog.get_logger("hostca.retry")

MAX_ATTEMPTS = 4
BACKOFF_SECONDS = 0.02


class TransientRetryMiddleware:
    """Replay a request whose handler raised a transient database error, up to ``attempts`` times.

    The body is read once and replayed on every attempt. Nothing is retried once the
    response has started.
    """

    def __init__(self, app: ASGIApp, attempts: int = MAX_ATTEMPTS) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away

        for attempt in range(1, self.attempts + 1):
            started = False
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            async def tracking_send(message: Message) -> None:
                nonlocal started
                started = True
                await send(message)

            try:
                await self.app(scope, replay, tracking_send)
                return
            except Exception as error:
                if started or attempt == self.attempts or not is_transient_error(error):
                    raise
                log.warning(
                    "transaction_retried", path=scope.get("path"), attempt=attempt, error=str(error)
                )
            # Random backoff, so that the requests that collided do not collide again.
            await asyncio.sleep(BACKOFF_SECONDS * attempt * (1 + random.random()))  # noqa: S311 - jitter, not a secret


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
