"""The pages' links are looked up once per (route, parameters) and are the paths the routes answer at."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_a_card_pages_links_are_kept_and_stay_right(app: FastAPI, client: TestClient) -> None:
    first = client.get("/cards/compare-two-students")
    assert first.status_code == 200
    paths = app.state.route_paths
    assert paths[("page_card", (("slug", "compare-two-students"),))] == "/cards/compare-two-students"
    for (name, params), path in paths.items():
        assert path == str(app.url_path_for(name, **dict(params)))
    # The second rendering takes every link from what was kept, and the page is the same.
    kept = dict(paths)
    second = client.get("/cards/compare-two-students")
    random_seed = re.compile(r"\?seed=\d+")  # the link to a new variant draws its seed afresh
    assert random_seed.sub("", second.text) == random_seed.sub("", first.text)
    assert app.state.route_paths == kept
