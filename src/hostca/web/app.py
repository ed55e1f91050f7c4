"""The ASGI application: REST API under /api/v1, with OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

import hostca
from hostca.service.context import ServiceContext
from hostca.web import admin_routes, host_routes, public_routes, user_routes
from hostca.web.body_limit import BodyLimitMiddleware
from hostca.web.console import install_console
from hostca.web.problems import install_problem_handlers
from hostca.web.responses import UtcJSONResponse
from hostca.web.retry import TransientRetryMiddleware
from hostca.web.self_cache import SelfResponseCache, send_cached_self

__all__ = ["HostcaApp", "create_app"]


class HostcaApp(FastAPI):
    """The FastAPI application, which first sends a cached ``/self`` response where one is current."""

    self_cache: SelfResponseCache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every host polls /self, so a cached response skips every framework layer.
        if await send_cached_self(self.self_cache, self.state.context, scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(context: ServiceContext) -> HostcaApp:
    app = HostcaApp(
        title="hostca",
        version=hostca.__version__,
        description="Certificate authority and host identity service.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        default_response_class=UtcJSONResponse,
    )
    app.state.context = context
    install_problem_handlers(app)
    app.self_cache = SelfResponseCache()
    # Starlette runs the middleware added last first: the body is limited, then replayed.
    app.add_middleware(TransientRetryMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.include_router(public_routes.router)
    app.include_router(host_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(user_routes.router)
    install_console(app)
    return app
