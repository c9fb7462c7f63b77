"""``/docs``: Swagger UI from the app's own static files (no CDN), so the API documentation works offline."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter()

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} — API documentation</title>
  <link rel="stylesheet" href="{static}/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
  <script src="{static}/vendor/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="{static}/docs.js"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    # Scripts come from files, never inline, so a strict Content-Security-Policy can cover this page too.
    static = request.scope.get("root_path", "") + "/static"
    return HTMLResponse(
        PAGE.format(title=request.app.title, static=static, openapi_url=request.app.openapi_url or "/openapi.json")
    )
