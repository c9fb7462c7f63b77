"""Which LMS roles teach: context and institution roles, full URIs, short names and sub-roles."""

from __future__ import annotations

import pytest

from app.services.lti.claims import teaches

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([MEMBERSHIP + "Instructor"], True),
        ([MEMBERSHIP + "TeachingAssistant"], True),
        ([MEMBERSHIP + "Administrator"], True),
        ([INSTITUTION + "Instructor"], True),
        ([INSTITUTION + "Administrator"], True),
        ([INSTITUTION + "Student", MEMBERSHIP + "Instructor"], True),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"], True),
        (["Instructor"], True),  # the short names of LTI 1.1, which some platforms still send
        ([MEMBERSHIP + "Learner"], False),
        ([INSTITUTION + "Student"], False),
        ([MEMBERSHIP + "Mentor", MEMBERSHIP + "ContentDeveloper"], False),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#Learner"], False),
        ([MEMBERSHIP + "InstructorX", "https://example.org/roles#Instructor"], False),
        ([], False),
    ],
)
def test_teaching_roles(roles: list[str], expected: bool) -> None:
    assert teaches(roles) is expected
