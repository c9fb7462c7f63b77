"""The names LTI 1.3 gives its claims, scopes, message types and media types, written once."""

from __future__ import annotations

from typing import Final

LTI_VERSION: Final = "1.3.0"

_LTI: Final = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE: Final = _LTI + "message_type"
VERSION: Final = _LTI + "version"
DEPLOYMENT_ID: Final = _LTI + "deployment_id"
TARGET_LINK_URI: Final = _LTI + "target_link_uri"
ROLES: Final = _LTI + "roles"
CONTEXT: Final = _LTI + "context"
RESOURCE_LINK: Final = _LTI + "resource_link"
CUSTOM: Final = _LTI + "custom"

_DL: Final = "https://purl.imsglobal.org/spec/lti-dl/claim/"
DEEP_LINKING_SETTINGS: Final = _DL + "deep_linking_settings"
CONTENT_ITEMS: Final = _DL + "content_items"
DL_DATA: Final = _DL + "data"
DL_MESSAGE: Final = _DL + "msg"

AGS_ENDPOINT: Final = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
AGS_SCORE_SCOPE: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/score"

RESOURCE_LINK_REQUEST: Final = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST: Final = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE: Final = "LtiDeepLinkingResponse"
LAUNCH_MESSAGE_TYPES: Final = (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST)

SCORE_MEDIA_TYPE: Final = "application/vnd.ims.lis.v1.score+json"
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Role URIs (context roles, and the institution roles some platforms send alone) that teach rather than learn.
_TEACHING_ROLES: Final = ("Instructor", "TeachingAssistant", "Administrator")
_ROLE_PREFIXES: Final = (
    "http://purl.imsglobal.org/vocab/lis/v2/membership#",
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#",
    "http://purl.imsglobal.org/vocab/lis/v2/system/person#",
)
# Sub-roles such as ``membership/Instructor#TeachingAssistant`` name the principal role before the '#'.
_SUB_ROLE_PREFIX: Final = "http://purl.imsglobal.org/vocab/lis/v2/membership/"


def teaches(roles: list[str]) -> bool:
    """True when any role is Instructor, TeachingAssistant or Administrator (context or institution role)."""
    for role in roles:
        if role in _TEACHING_ROLES:  # LTI 1.1 short names, still sent by some platforms
            return True
        for prefix in _ROLE_PREFIXES:
            if role.startswith(prefix) and role.removeprefix(prefix) in _TEACHING_ROLES:
                return True
        if role.startswith(_SUB_ROLE_PREFIX):
            principal, _, sub_role = role.removeprefix(_SUB_ROLE_PREFIX).partition("#")
            if principal in _TEACHING_ROLES or sub_role in _TEACHING_ROLES:
                return True
    return False
