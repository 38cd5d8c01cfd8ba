"""The dashboard: one static HTML page (vanilla JS, inline SVG charts, no CDN) served by the service.
It logs in with an admin or operator key kept in sessionStorage and reads the JSON API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter()
PAGE = Path(__file__).with_name("dashboard.html")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    return HTMLResponse(
        PAGE.read_text(),
        headers={
            "Content-Security-Policy": "default-src 'self'; "
            "script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; media-src 'self' blob:; "
            "img-src 'self' data:"
        },
    )
