"""What the LTI service tests share: quick tool keys, and a platform registered in the test's database."""

from __future__ import annotations

import pytest
from lti_platform import FakePlatform, quick_tool_keys
from lti_services import registered
from sqlalchemy.orm import Session

from app.db.integrations import LtiPlatform


@pytest.fixture(autouse=True)
def quick_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    quick_tool_keys(monkeypatch)


@pytest.fixture
def platform(session: Session) -> tuple[FakePlatform, LtiPlatform]:
    return registered(session)
