"""Who may do what: every route of the app, asked by each role, gets the outcome its access rule promises.

The routes come from the app itself, so a new endpoint is either listed as public here or given an access
rule, or this test fails naming it. The content is real: instructor A (the owner) creates a card with a written
part and a deck through the API and publishes both, a learner answers the card, and instructor B is the
instructor who owns nothing. Each role then asks every route once, on that one set of content.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pytest
import yaml
from accounts_support import MakeUser, UserClient, csrf_headers, signed_in
from authorization_support import World, build_world, card_spec, deck_body
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

ROLES: Final = ("guest", "learner", "other", "owner", "admin")
SAFE: Final = frozenset({"GET"})

# Outcome classes: what a role gets from a route.
SIGNIN: Final = "sign in"  # 401 from the API, 303 to /signin (coming back here) from a page
FORBIDDEN: Final = "403"
HIDDEN: Final = "404"
ALLOWED: Final = "allowed"  # the request does what it asks: 2xx, or a redirect that is not to /signin
PASSES: Final = "passes"  # the caller gets past the access check (the request itself may still be refused)

# Routes anyone may call, signed in or not; each checks its own input, and none reveals another's data.
PUBLIC: Final = frozenset(
    {
        "openapi",
        "api_docs",
        "healthz",
        "readyz",
        "metrics",
        "api_session",
        "api_divergence",
        "api_distillation_loss",
        "api_list_cards",
        "api_get_card",
        "api_get_variant",
        "api_create_submission",
        "api_list_submissions",
        "api_list_decks",
        "api_get_deck",
        "api_create_deck_submission",
        "page_index",
        "page_card",
        "page_submit",
        "page_progress",
        "page_decks",
        "page_deck",
        "page_deck_card",
        "page_deck_submit",
        "page_signin",
        "page_signin_submit",
        "page_signup",
        "page_signup_submit",
        "page_signout",
        "lti_login",
        "lti_launch",
        "lti_unlinked",
        "lti_jwks",
        "lti_canvas_config",
    }
)

# The access rules, as the outcome each role gets.
SIGNED_IN: Final = {"guest": SIGNIN, "learner": ALLOWED, "other": ALLOWED, "owner": ALLOWED, "admin": ALLOWED}
INSTRUCTOR: Final = {"guest": SIGNIN, "learner": FORBIDDEN, "other": ALLOWED, "owner": ALLOWED, "admin": ALLOWED}
INSTRUCTOR_GATE: Final = {**INSTRUCTOR, "other": PASSES, "owner": PASSES, "admin": PASSES}
OWNER: Final = {"guest": SIGNIN, "learner": FORBIDDEN, "other": FORBIDDEN, "owner": ALLOWED, "admin": ALLOWED}
ADMIN: Final = {"guest": SIGNIN, "learner": FORBIDDEN, "other": FORBIDDEN, "owner": FORBIDDEN, "admin": ALLOWED}
ADMIN_GATE: Final = {**ADMIN, "admin": PASSES}
# Only a bearer token with the scope ``integrations`` gets through; a cookie session, even an admin's, does not.
INTEGRATION: Final = {"guest": SIGNIN, "learner": FORBIDDEN, "other": FORBIDDEN, "owner": FORBIDDEN, "admin": FORBIDDEN}
OWN_TOKEN: Final = {"guest": SIGNIN, "learner": HIDDEN, "other": HIDDEN, "owner": ALLOWED, "admin": HIDDEN}
# A submission is its author's alone: the learner who answered is none of the roles asking.
AUTHOR_ONLY: Final = dict.fromkeys(ROLES, HIDDEN)

RULES: Final[dict[str, dict[str, str]]] = {
    # authoring API: reading a published card is for every instructor, changing it for its owner
    "api_create_card": INSTRUCTOR,
    "api_update_card": OWNER,
    "api_get_spec": INSTRUCTOR,
    "api_preview_card": INSTRUCTOR,
    "api_card_versions": INSTRUCTOR,
    "api_publish_card": OWNER,
    "api_unpublish_card": OWNER,
    "api_archive_card": OWNER,
    # decks, statistics, gradebooks and grading
    "api_create_deck": INSTRUCTOR,
    "api_update_deck": OWNER,
    "api_export_deck": OWNER,  # an export holds every answer
    "api_card_stats": OWNER,
    "api_deck_stats": OWNER,
    "api_deck_gradebook": OWNER,
    "api_grading_queue": INSTRUCTOR,
    "api_grade_part": OWNER,
    "api_get_submission": AUTHOR_ONLY,
    "page_submission": AUTHOR_ONLY,
    # integrations
    "api_list_learners": INTEGRATION,
    "api_create_webhook": ADMIN,
    "api_list_webhooks": ADMIN,
    "api_delete_webhook": ADMIN,  # the webhook the admin registered just before (ids start at 1)
    # instructor pages
    "page_instructor": INSTRUCTOR,
    "page_card_new": INSTRUCTOR,
    "page_card_create": INSTRUCTOR,
    "page_card_new_form": INSTRUCTOR,
    "page_card_create_form": INSTRUCTOR_GATE,
    "page_card_edit": INSTRUCTOR,  # another instructor gets the published spec read-only, with no save form
    "page_card_save": OWNER,
    "page_card_status": OWNER,
    "page_card_preview": INSTRUCTOR,
    "page_card_seeds": INSTRUCTOR,
    "page_card_history": INSTRUCTOR,
    "page_instructor_decks": INSTRUCTOR,
    "page_instructor_deck_new": INSTRUCTOR,
    "page_instructor_deck_create": INSTRUCTOR,
    "page_instructor_deck_edit": OWNER,
    "page_instructor_deck_update": OWNER,
    "page_instructor_grading": INSTRUCTOR,
    "page_instructor_grade_part": OWNER,
    "page_instructor_card_stats": OWNER,
    "page_instructor_deck_stats": OWNER,
    "page_instructor_gradebook": OWNER,
    # LTI: deep linking needs a request signed by the LMS, so instructors only get past the door
    "lti_deep_link": INSTRUCTOR_GATE,
    "lti_deep_link_choose": INSTRUCTOR_GATE,
    "lti_admin": ADMIN,
    "lti_platforms": ADMIN,
    "lti_platforms_add": ADMIN_GATE,
    # the account
    "page_account": SIGNED_IN,
    "page_create_token": SIGNED_IN,
    "page_revoke_token": OWN_TOKEN,
    "page_end_sessions": SIGNED_IN,
}

# Asked last, in this order: each changes what the routes after it would see (or signs the caller out).
LAST: Final = ("api_unpublish_card", "api_archive_card", "page_end_sessions")

def client_for(role: str, world: World, make_user: MakeUser) -> TestClient:
    """A client acting as ``role``; a guest carries its CSRF token, so its refusals are about access alone."""
    if role == "owner":
        return world.owner
    if role == "guest":
        guest = TestClient(world.app)
        guest.headers.update(csrf_headers(guest))
        return guest
    client = UserClient(world.app)
    client.user = make_user({"learner": "learner", "other": "instructor", "admin": "admin"}[role])
    return signed_in(client, client.user)


# --- the routes and how to ask them ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with its {parameters}
    name: str


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every method of every route of the app (FastAPI keeps included routers as branches to expand)."""
    found: list[Endpoint] = []
    for route in app.routes:
        expand = getattr(route, "effective_route_contexts", None)
        for leaf in expand() if expand is not None else [route]:
            methods = getattr(leaf, "methods", None)
            if methods:  # a mount (the static files) has none
                found.extend(Endpoint(m, leaf.path, leaf.name) for m in sorted(methods) if m != "HEAD")
    return found


def in_asking_order(found: list[Endpoint]) -> list[Endpoint]:
    """Reads first, then changes, then the ``LAST`` ones in their order."""

    def key(endpoint: Endpoint) -> tuple[int, int, str, str]:
        last = LAST.index(endpoint.name) + 1 if endpoint.name in LAST else 0
        return (last, endpoint.method not in SAFE, endpoint.path, endpoint.method)

    return sorted(found, key=key)


def resolve(endpoint: Endpoint, world: World) -> str:
    """The path with its parameters taken from the world's content."""
    deck_route = endpoint.path.startswith(("/api/v1/decks/", "/instructor/decks/", "/decks/"))
    values = {
        "slug": world.deck if deck_route else world.card,
        "card_slug": world.card,
        "submission_id": str(world.submission_id),
        "key": "why",
        "token_id": str(world.token_id),
        "webhook_id": "1",
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(f"{endpoint.method} {endpoint.path}: no value for the path parameter '{name}'; add one")
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", fill, endpoint.path)


def request_body(endpoint: Endpoint, world: World) -> dict[str, Any]:
    """A body the owner's request would succeed with, so a refusal can only be about who asks."""
    name = endpoint.name
    if name == "api_create_card":
        return {"json": card_spec(world.new_slug("card"))}
    if name == "api_update_card":
        return {"json": card_spec(world.card, title="Revised by its owner")}
    if name == "api_create_deck":
        return {"json": deck_body(world.new_slug("deck"), [world.card])}
    if name == "api_update_deck":
        body = deck_body(world.deck, [world.card])
        del body["slug"]
        return {"json": body}
    if name == "api_export_deck":
        return {"params": {"format": "gift"}}
    if name == "api_grade_part":
        return {"json": {"score": 0.5, "comment": "Half right."}}
    if name == "api_create_webhook":
        return {"json": {"url": "https://lms.example.edu/hooks/distill", "secret": "a-long-random-shared-secret"}}
    if name == "page_card_create":
        return {"data": {"spec": yaml.safe_dump(card_spec(world.new_slug("card")), allow_unicode=True)}}
    if name == "page_card_save":
        return {
            "data": {"spec": yaml.safe_dump(card_spec(world.card, title="Saved in the editor"), allow_unicode=True)}
        }
    if name == "page_card_status":
        return {"data": {"action": "publish"}}
    if name in ("page_instructor_deck_create", "page_instructor_deck_update"):
        slug = world.new_slug("deck") if name.endswith("create") else world.deck
        fields = {"slug": slug, "title": "Deck", "cards": world.card, "max_attempts": "3"}
        return {"data": {**fields, "penalty_per_attempt": "0.1", "show_solution": "always", "status": "published"}}
    if name == "page_instructor_grade_part":
        return {"data": {"score": "0.5", "comment": "Half right."}}
    if name == "page_create_token":
        return {"data": {"name": "a script"}}
    if endpoint.method in SAFE:
        return {}
    return {"data": {}}


def outcome_of(response: Response, *, api: bool) -> str:
    status = response.status_code
    location = response.headers.get("location", "")
    if (api and status == 401) or (not api and status == 303 and location.startswith("/signin?next=")):
        return SIGNIN
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return HIDDEN
    if status < 400:
        return ALLOWED
    return f"{status}"


def matches(expected: str, got: str) -> bool:
    if expected == PASSES:
        return got not in (SIGNIN, FORBIDDEN)
    return got == expected


# --- the tests ----------------------------------------------------------------------------------------------------


def test_every_route_is_public_or_has_an_access_rule(app: FastAPI) -> None:
    names = {endpoint.name for endpoint in endpoints(app)}
    unclassified = sorted(names - PUBLIC - RULES.keys())
    assert not unclassified, (
        "these routes are neither listed as public nor given an access rule in test_authorization_matrix.py: "
        + ", ".join(unclassified)
    )
    stale = sorted((PUBLIC | RULES.keys()) - names)
    assert not stale, f"listed here but not routes of the app any more: {', '.join(stale)}"
    assert not PUBLIC & RULES.keys(), "a route cannot be both public and protected"
    # Instructor, admin and account pages are all protected: none of them may slip into the public list.
    public_there = sorted(
        e.path for e in endpoints(app) if e.name in PUBLIC and e.path.startswith(("/instructor", "/admin", "/account"))
    )
    assert not public_there, f"listed as public but in a protected area: {', '.join(public_there)}"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_its_rule_says_on_every_protected_route(
    role: str, app: FastAPI, make_user: MakeUser, make_client: Callable[[], TestClient]
) -> None:
    world = build_world(app, make_user, make_client)
    client = client_for(role, world, make_user)
    mismatches: list[str] = []
    asked = 0
    for endpoint in in_asking_order(endpoints(app)):
        rule = RULES.get(endpoint.name)
        if rule is None:
            continue  # public, or unclassified (the test above names those)
        path = resolve(endpoint, world)
        response = client.request(endpoint.method, path, follow_redirects=False, **request_body(endpoint, world))
        got = outcome_of(response, api=path.startswith("/api/"))
        asked += 1
        if not matches(rule[role], got):
            mismatches.append(
                f"{endpoint.method} {path} ({endpoint.name}) as {role}: got {got} ({response.status_code}), "
                f"expected {rule[role]}"
            )
    assert asked == sum(1 for endpoint in endpoints(app) if endpoint.name in RULES)
    assert not mismatches, "authorisation mismatches:\n" + "\n".join(mismatches)


def test_public_routes_never_ask_a_guest_to_sign_in(client: TestClient) -> None:
    """A guest reads every public page and endpoint that needs no input without being sent to sign in."""
    app = client.app
    assert isinstance(app, FastAPI)
    guest = client
    refused = []
    for endpoint in endpoints(app):
        if endpoint.name not in PUBLIC or endpoint.method not in SAFE or "{" in endpoint.path:
            continue
        response = guest.get(endpoint.path, follow_redirects=False)
        if outcome_of(response, api=endpoint.path.startswith("/api/")) in (SIGNIN, FORBIDDEN):
            refused.append(f"GET {endpoint.path}: {response.status_code}")
    assert not refused, "public routes refusing a guest:\n" + "\n".join(refused)
