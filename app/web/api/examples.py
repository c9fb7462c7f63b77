"""Examples for the API's description, by route name: what each operation answers, and each of its errors.

Request bodies show the examples of their own models (``SubmissionCreate`` ...); what the routes cannot
say about themselves is written here: a response as the server sends it, the message of each error, other
ways to call. ``app.web.api_document`` merges them into the OpenAPI document, and a test checks that every
example is valid for the model it illustrates. Values come from real responses on the built-in bank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from app.web.api.example_values import (
    ANSWERS,
    AUTHORED,
    CARD,
    CARD_STATS,
    DECK,
    QUEUE_ITEM,
    SUBMISSION,
    TITLE,
    WEBHOOK,
    WHEN,
)
from app.web.authoring_schemas import EXAMPLE_SPEC

# An error example: the field at fault (None for none) and the message, as ``{"detail": [...]}`` sends them.
Error = tuple[str | None, str]


@dataclass(frozen=True)
class Examples:
    """What one operation's description shows beyond what its route and models say."""

    response: Any = None  # the body of its 2xx JSON response
    requests: Mapping[str, tuple[str, Any]] = field(default_factory=dict)  # named request bodies: (summary, body)
    errors: Mapping[int, Error | Mapping[str, Any]] = field(default_factory=dict)  # a whole body when not an Error
    media: Mapping[str, Any] = field(default_factory=dict)  # 2xx bodies of other media types (text/csv ...)
    description: str | None = None  # for a route without a docstring of its own
    location: str | None = None  # what the Location header of its 2xx response points at


NO_CARD: Final[Error] = ("slug", f"no published card '{CARD}'")
NO_DECK: Final[Error] = ("slug", "no published deck 'week-3'")
NOT_A_NUMBER: Final[Error] = ("answers.loss_a", "'abc' is not a number; write it like 0.0268 or 2.68e-2")
BAD_LIMIT: Final[Error] = ("limit", "input should be greater than or equal to 1")
INSTRUCTORS_ONLY: Final[Error] = (None, "only instructors can do this; your account is a learner's")
INTEGRATIONS_ONLY: Final[Error] = (
    None,
    "only an integration token (an API token with the scope 'integrations') may",
)
NOT_FOR_YOU: Final[Error] = (
    "learner",
    "only an integration token (scope 'integrations') may submit for another learner",
)
SPEC_INVALID: Final = {
    "detail": [
        {"field": "parts[0].answer", "line": 14, "message": "unknown name 'QC'; the parameters are P, QA, QB, vocab"}
    ]
}
SLUG_TOO_LONG: Final[Error] = ("slug", "string should have at most 100 characters")
AUTHORED_CARD: Final[dict[int, Error]] = {404: ("slug", "no card 'two-students'"), 422: SLUG_TOO_LONG}
AS_INTEGRATION: Final = "An integration names the learner by its own id (token with the scope `integrations`)"

EXAMPLES: Final[dict[str, Examples]] = {
    # --- cards and submissions
    "api_list_cards": Examples(
        response=[
            {
                "slug": CARD,
                "title": TITLE,
                "tags": ["distillation", "kl-divergence"],
                "drawn": False,
                "best_score": 0.6666666666666666,
            }
        ],
        errors={422: BAD_LIMIT},
    ),
    "api_get_card": Examples(
        response={
            "slug": CARD,
            "title": TITLE,
            "tags": ["distillation", "kl-divergence"],
            "drawn": False,
            "version": 1,
            "parts": [
                {"key": "loss_a", "kind": "numeric", "weight": 1.0, "unit": "nats"},
                {"key": "better", "kind": "choice", "weight": 1.0, "unit": None},
            ],
        },
        errors={404: NO_CARD, 422: ("slug", "string should have at most 100 characters")},
    ),
    "api_get_variant": Examples(
        response={
            "slug": CARD,
            "seed": 0,
            "version": 1,
            "title": TITLE,
            "drawn": False,
            "prompt": "A teacher predicts $P$ = [0.7, 0.2, 0.1] over apple, banana and cherry ...",
            "params": {"P": [0.7, 0.2, 0.1], "QA": [0.6, 0.3, 0.1], "QB": [0.8, 0.1, 0.1]},
            "parts": [
                {"key": "loss_a", "kind": "numeric", "label": "Loss for Student A", "choices": [], "unit": "nats"},
                {
                    "key": "better",
                    "kind": "choice",
                    "label": "Which student mimics the teacher better?",
                    "choices": ["Student A", "Student B"],
                    "unit": None,
                },
            ],
        },
        errors={404: NO_CARD, 422: ("seed", "input should be greater than or equal to 0")},
    ),
    "api_create_submission": Examples(
        response=SUBMISSION,
        requests={
            "learner": ("A learner answers variant 0", {"seed": 0, "answers": ANSWERS}),
            "integration": (AS_INTEGRATION, {"seed": 0, "answers": ANSWERS, "learner": "lms-user-123"}),
        },
        errors={403: NOT_FOR_YOU, 404: NO_CARD, 422: NOT_A_NUMBER},
        location="/api/v1/submissions/41",
    ),
    "api_get_submission": Examples(
        response=SUBMISSION,
        errors={
            404: ("submission_id", "no submission 41"),
            422: ("submission_id", "input should be greater than or equal to 1"),
        },
    ),
    "api_list_submissions": Examples(
        response=[
            {key: SUBMISSION[key] for key in ("id", "slug", "title", "seed", "score", "pending", "created_at")}
            | {"card_version": 1, "deck": "week-3", "attempt": 1, "learner": "lms-user-123"}
        ],
        errors={
            403: ("learner", "only an integration token (scope 'integrations') may read other learners"),
            422: ("since", "is not an ISO 8601 time; write it like 2026-01-31T12:00:00Z"),
        },
    ),
    # --- decks
    "api_list_decks": Examples(
        response=[
            {
                "slug": "week-3",
                "title": "Week 3: divergences",
                "due_at": "2026-12-11T17:00:00Z",
                "status": "published",
                "builtin": False,
                "card_count": 2,
            }
        ],
        errors={422: BAD_LIMIT},
    ),
    "api_get_deck": Examples(
        response=DECK, errors={404: NO_DECK, 422: ("slug", "string should have at most 100 characters")}
    ),
    "api_create_deck": Examples(
        response={**DECK, "editable": True, "progress": None},
        description="The caller owns the new deck; a draft until its status is `published`.",
        errors={
            403: (None, "this token lacks the scope 'decks:write'"),
            422: {
                "detail": [
                    {
                        "field": "slug",
                        "message": "must be lowercase letters and digits in words joined"
                        " by hyphens, at most 100 characters",
                    },
                    {"field": "cards[0]", "message": "there is no card 'nope'"},
                ]
            },
        },
        location="/api/v1/decks/week-3",
    ),
    "api_update_deck": Examples(
        response={**DECK, "editable": True, "progress": None},
        errors={
            403: (None, "deck 'week-3' is another instructor's: only they can change it"),
            404: NO_DECK,
            422: ("penalty_per_attempt", "must be a number from 0 to 1 (0.1 takes 10% off per extra attempt)"),
        },
    ),
    "api_create_deck_submission": Examples(
        response={
            **SUBMISSION,
            "seed": 232910565,
            "deck": "week-3",
            "attempt": 1,
            "attempts_left": 2,
            "best": 0.67,
            "deck_score": 0.335,
            "solution_visible": False,
        },
        requests={
            "learner": ("A learner answers their own variant", {"answers": ANSWERS}),
            "integration": (AS_INTEGRATION, {"answers": ANSWERS, "learner": "lms-user-123"}),
        },
        errors={
            403: NOT_FOR_YOU,
            404: ("slug", "card 'bits-versus-nats' is not in deck 'week-3'"),
            409: ("attempt", "no attempts left: 3 of 3 used on this card in this deck"),
            422: ("seed", "in this deck you answer variant 232910565 of this card; other variants are not accepted"),
        },
        location="/api/v1/submissions/41",
    ),
    "api_export_deck": Examples(
        media={
            "text/plain": "// Week 3: divergences\n::evaluate-student-models::A teacher predicts ... {#0.0268:0.0005}\n"
        },
        errors={
            403: (None, "this token lacks the scope 'decks:write' (or 'integrations') that exports need"),
            404: NO_DECK,
            422: ("format", "input should be 'qti' or 'gift'"),
        },
    ),
    # --- calculators and the session
    "api_divergence": Examples(
        response={
            "measure": "kl",
            "base": "e",
            "value": 0.026812454257447937,
            "infinite": False,
            "terms": [
                {"index": 0, "p": 0.7, "q": 0.6, "term": 0.10790547587908078, "infinite": False},
                {"index": 1, "p": 0.2, "q": 0.3, "term": -0.08109302162163284, "infinite": False},
                {"index": 2, "p": 0.1, "q": 0.1, "term": 0.0, "infinite": False},
            ],
        },
        errors={422: ("p", "sums to 1.1; a distribution must sum to 1 (within 1e-6)")},
    ),
    "api_distillation_loss": Examples(
        response={
            "total": 0.38262530007928464,
            "kd": 0.37191930106567217,
            "kl": 0.09297982526641804,
            "ce": 0.40760596444438046,
            "infinite": False,
            "alpha": 0.7,
            "temperature": 2.0,
            "base": "e",
            "teacher_probs": [0.7158687539278308, 0.15973190970917378, 0.12439933636299548],
            "student_probs": [0.506480391055654, 0.3071958857184984, 0.1863237232258476],
            "student_probs_t1": [0.6652409557748218, 0.24472847105479764, 0.09003057317038046],
        },
        errors={422: ("temperature", "input should be greater than 0")},
    ),
    "api_session": Examples(
        response={
            "auth": "session",
            "user": {"id": 3, "email": "sam@example.edu", "role": "learner"},
            "scopes": ["read", "submit"],
            "csrf_token": "Pk0_VskVZgrtqcyDfWEIjLa2XJRLuLyrjh1MCVpzX1A",
        },
    ),
    # --- authoring
    "api_create_card": Examples(
        response={**AUTHORED, "new_version": True},
        errors={
            403: (None, "this token lacks the scope 'cards:write'"),
            404: NO_CARD,
            413: (None, "the request body is larger than 2,097,152 bytes"),
            422: SPEC_INVALID,
            415: ("content-type", "'text/csv' is neither application/json nor application/yaml"),
        },
        location="/api/v1/cards/two-students/spec",
    ),
    "api_update_card": Examples(
        response={**AUTHORED, "version": 2, "new_version": True},
        errors={
            403: (None, "'two-students' is another instructor's card: only its owner can change it"),
            404: ("slug", "no card 'two-students'"),
            413: (None, "the request body is larger than 2,097,152 bytes"),
            422: SPEC_INVALID,
            415: ("content-type", "'text/csv' is neither application/json nor application/yaml"),
        },
    ),
    "api_get_spec": Examples(
        response=EXAMPLE_SPEC,
        errors={
            404: ("slug", "no card 'two-students'"),
            422: ("version", "input should be greater than or equal to 1"),
        },
    ),
    "api_preview_card": Examples(
        response={
            "slug": "two-students",
            "seed": 3,
            "version": 1,
            "status": "draft",
            "title": "Which student mimics the teacher?",
            "drawn": True,
            "prompt": "A teacher predicts $P = [0.7, 0.2, 0.1]$ over [apple, banana, cherry]; ...",
            "params": {"P": [0.7, 0.2, 0.1], "QA": [0.6, 0.3, 0.1], "QB": [0.82, 0.16, 0.02]},
            "parts": [{"key": "loss_a", "kind": "numeric", "label": "KL(P ‖ Q_A)", "choices": [], "unit": "nats"}],
            "answers": {"loss_a": 0.026812454257447937},
            "model_answers": {},
            "solution": "$\\mathrm{KL}(P \\parallel Q_A) = 0.02681$",
        },
        errors={404: ("slug", "no card 'two-students'"), 422: ("seed", "input should be less than 2147483648")},
    ),
    "api_publish_card": Examples(response={**AUTHORED, "status": "published"}, errors=AUTHORED_CARD),
    "api_unpublish_card": Examples(response=AUTHORED, errors=AUTHORED_CARD),
    "api_archive_card": Examples(response={**AUTHORED, "status": "archived"}, errors=AUTHORED_CARD),
    "api_card_versions": Examples(
        response=[
            {
                "number": 2,
                "author": "teacher@example.edu",
                "created_at": WHEN,
                "spec_hash": "24c07be63c71d25410878549c53a1fe2b4515d4df4c39c7113c7e1f3efa380b8",
                "current": True,
            }
        ],
        errors={**AUTHORED_CARD, 422: BAD_LIMIT},
    ),
    # --- insight
    "api_card_stats": Examples(
        response=CARD_STATS,
        errors={
            403: (None, f"the card '{CARD}' is not yours: its statistics are for its owner and administrators"),
            404: ("slug", f"no card '{CARD}'"),
            422: SLUG_TOO_LONG,
        },
    ),
    "api_deck_stats": Examples(
        response={
            "slug": "week-3",
            "title": "Week 3: divergences",
            "submissions": 40,
            "learners": 25,
            "mean_score": 0.81,
            "mean_total": 0.74,
            "pending": 3,
            "histogram": CARD_STATS["histogram"],
            "total_histogram": [{"low": 0.7, "high": 0.8, "count": 25}],
            "cards": [CARD_STATS],
        },
        errors={
            403: (None, "the deck 'week-3' is not yours: its statistics are for its owner and administrators"),
            404: ("slug", "no deck 'week-3'"),
            422: SLUG_TOO_LONG,
        },
    ),
    "api_deck_gradebook": Examples(
        response={
            "slug": "week-3",
            "title": "Week 3: divergences",
            "penalty_per_attempt": 0.1,
            "cards": [{"slug": CARD, "title": TITLE}],
            "rows": [
                {
                    "learner_id": 12,
                    "learner": "lms-user-123",
                    "scores": {CARD: 0.9},
                    "attempts": {CARD: 2},
                    "total": 0.9,
                }
            ],
            "next_cursor": None,
        },
        media={"text/csv": f"learner,{CARD},total\nlms-user-123,0.9,0.9\n"},
        errors={404: ("slug", "no deck 'week-3'"), 422: ("format", "input should be 'json' or 'csv'")},
    ),
    "api_grading_queue": Examples(response=[QUEUE_ITEM], errors={404: ("deck", "no deck 'week-3'"), 422: BAD_LIMIT}),
    "api_grade_part": Examples(
        response={
            "submission_id": 41,
            "part_key": "reasoning",
            "score": 0.75,
            "comment": "Right conclusion; say why lower KL is better.",
            "submission_score": 0.9375,
            "pending": False,
        },
        errors={
            404: ("submission_id", "no submission 41"),
            422: ("key", "part 'loss_a' is a numeric part, graded automatically, not by hand"),
        },
    ),
    # --- integrations
    "api_list_learners": Examples(
        response=[{"id": 12, "external_id": "lms-user-123", "created_at": WHEN, "submissions": 4}],
        errors={403: INTEGRATIONS_ONLY, 422: BAD_LIMIT},
    ),
    "api_list_webhooks": Examples(
        response=[WEBHOOK], errors={403: (None, "this token lacks the scope 'integrations'"), 422: BAD_LIMIT}
    ),
    "api_create_webhook": Examples(
        response=WEBHOOK,
        errors={
            403: (None, "only administrators can do this"),
            422: ("url", "must be an absolute http or https URL, like https://lms.example.edu/hooks"),
        },
    ),
    "api_delete_webhook": Examples(
        errors={
            403: (None, "only administrators can do this"),
            404: ("webhook_id", "no webhook 7"),
            422: ("webhook_id", "input should be greater than or equal to 1"),
        },
    ),
}

# Errors that read the same whatever the operation.
DEFAULT_ERRORS: Final[dict[int, Error]] = {
    401: (None, "sign in, or send an API token as 'Authorization: Bearer <token>'"),
    403: INSTRUCTORS_ONLY,
    429: (None, "too many submissions from this learner: at most 60 per 1 minute; try again in 12 seconds"),
    503: (None, "the database is unavailable, try again shortly"),
}
