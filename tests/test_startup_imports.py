"""What a server start loads: the libraries only some requests need are imported by those requests, not at start.

Each of these took ten milliseconds or more at every launch (cryptography through joserfc, Alembic, the OpenAPI
examples, latex2mathml, markdown-it); a new top-level import of one of them would quietly bring the cost back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DEFERRED = ("joserfc", "cryptography", "alembic", "latex2mathml", "app.web.api.examples", "markdown_it")


def test_building_the_app_leaves_the_deferred_libraries_unloaded(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from app.config import Settings\n"
        "from app.main import create_app\n"
        f"settings = Settings(_env_file=None, database_url='sqlite:///{tmp_path}/start.db', secret_key='k')\n"
        "create_app(settings)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {DEFERRED!r} or m in {DEFERRED!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_openapi_document_still_has_the_examples() -> None:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(_env_file=None, database_url="sqlite://", secret_key="startup-imports-key"))
    document = TestClient(app).get("/openapi.json").json()
    operation = document["paths"]["/api/v1/cards"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["example"][0]["slug"]
    assert document["info"]["version"]
