"""The console's router: error pages, login redirects, security headers and static files."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from hostca.core.errors import HostcaError
from hostca.web.console.auth import LoginRequired
from hostca.web.console.rendering import render

__all__ = ["install_console"]

# Everything the console loads comes from hostca itself. Inline scripts and styles
# are not allowed; the chart is SVG markup with presentation attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000",
}

_STATIC_TYPES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


class ConsoleRoute(APIRoute):
    """A console route: HostcaError becomes an error page, a missing session a redirect."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as redirect:
                response = RedirectResponse(redirect.location, status_code=303)
            except HostcaError as error:
                response = render(
                    request,
                    "error.html",
                    status_code=error.status,
                    error=error,
                    back=_referring_page(request),
                )
            response.headers.update(SECURITY_HEADERS)
            return response

        return console_handler


def _referring_page(request: Request) -> str | None:
    """Return the console page that sent the request, for a Back link, if it is one."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.headers.get("host") or not referer.path.startswith("/console/"):
        return None
    return referer.path + (f"?{referer.query}" if referer.query else "")


router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    media_type = _STATIC_TYPES.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body = resources.files("hostca.web.console").joinpath("static", name).read_bytes()
    return Response(body, media_type=media_type)


def install_console(app: FastAPI) -> None:
    from hostca.web.console import actions, login, pages

    app.include_router(router)
    app.include_router(login.router)
    app.include_router(pages.router)
    app.include_router(actions.router)

    @app.get("/console", include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)
