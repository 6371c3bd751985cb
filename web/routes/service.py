"""What machines and browsers ask for besides pages: the health check and the favicon."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def favicon(request: Request) -> Response:
    """Browsers ask for `/favicon.ico` whatever a page links (a PDF, an error page, a direct visit): send them to
    the icon the pages link, so no visit logs a 404 and the icon has one source."""
    return RedirectResponse("/static/favicon.svg", 301)


def service_routes() -> list[Route]:
    return [
        Route("/healthz", health, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
    ]
