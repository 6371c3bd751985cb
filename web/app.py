"""The agents' web form as an ASGI app: `build_web_app` assembles it from its parts.

Each part is its own module: `web.pages` (who is asking, in which language, rendering), `web.templates` (Jinja),
`web.middleware` (security headers, metrics, trusted hosts, sessions), `web.errors` (the error pages) and one
module of routes per area under `web.routes`, the customers' portal (`/portal`, `web.routes.portal`) among
them. Every action goes through `ComplaintClient.act`, so the web form is
one more door to the workflow's rules.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from temporalio.converter import PayloadCodec

from activities.attachments import AttachmentStore
from activities.queries import ComplaintQueries
from activities.reports import ComplaintReports
from starter.client import ComplaintClient
from starter.codec import encryption_codec_of
from web.codec_endpoint import CodecEndpoint
from web.errors import ErrorPages
from web.metrics import WebMetrics
from web.middleware import StarletteWithSecurityHeaders, web_middleware
from web.pages import Pages
from web.routes.actions import ActionRoutes
from web.routes.admin import AdminPages
from web.routes.attachments import AttachmentPages
from web.routes.auth import SignInRoutes
from web.routes.complaints import ComplaintPages
from web.routes.portal import PortalPages
from web.routes.reports import ReportPages
from web.routes.service import service_routes
from web.settings import WebSettings

STATIC_DIR = Path(__file__).resolve().parent / "static"


def build_web_app(
    complaints: ComplaintClient,
    pool: asyncpg.Pool,
    settings: WebSettings,
    codec: PayloadCodec | None = None,
) -> Starlette:
    """The web form as an ASGI app; serve it with `web.server.serve` (or any ASGI server).

    `codec` (the key ring's `EncryptionCodec`) serves `/codec/decode` and `/codec/encode` for the Temporal UI
    (see `web.codec_endpoint`); without it those answer 404 to whoever may use them. `/metrics` has the request
    counts and latencies (see `web.metrics`) for the holder of `COMPLAINTS_METRICS_TOKEN`. Customers' files are read
    with the client's own key ring (see `web.routes.attachments`). Only the hosts in
    `COMPLAINTS_ALLOWED_HOSTS` are answered.
    """
    pages = Pages(pool, settings, complaints.company)
    queries = ComplaintQueries(pool)
    key_ring = encryption_codec_of(complaints.client.data_converter)
    store = AttachmentStore(pool, key_ring.key_ring, max_bytes=settings.attachment_max_bytes) if key_ring else None
    attachment_pages = AttachmentPages(pages, store)
    complaint_pages = ComplaintPages(pages, complaints, queries, attachment_pages)
    portal = PortalPages(pages, complaints, queries, store)
    metrics = WebMetrics(settings.metrics_token)
    return StarletteWithSecurityHeaders(
        routes=[
            *SignInRoutes(pages).routes(),
            *complaint_pages.routes(),
            *attachment_pages.routes(),
            *ActionRoutes(complaint_pages).routes(),
            *AdminPages(pages, queries).routes(),
            *ReportPages(pages, ComplaintReports(pool), complaints.company).routes(),
            *portal.routes(),
            *service_routes(),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            *CodecEndpoint(codec, pool, settings).routes(),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=web_middleware(settings, metrics, pages.sessions),
        exception_handlers=ErrorPages(pages, portal).exception_handlers(),
    )
