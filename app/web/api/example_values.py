"""Bodies the API's examples share: a submission, a deck, a card's statistics ... as the server sends them.

The values come from real responses on the built-in bank (``evaluate-student-models``), trimmed to a few
parts; ``app.web.api.examples`` puts them together by operation.
"""

from __future__ import annotations

from typing import Final

WHEN: Final = "2026-01-31T12:00:00Z"
CARD: Final = "evaluate-student-models"
TITLE: Final = "Evaluating Student Model Performance"
ANSWERS: Final = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A's KL is lower."}
PARTS: Final = [
    {
        "key": "loss_a",
        "kind": "numeric",
        "correct": True,
        "score": 1.0,
        "expected": 0.026812454257447937,
        "feedback": "Right: 0.0268 is within the tolerance of 0.02681.",
        "misconception": None,
        "pending": False,
        "model_answer": None,
    },
    {
        "key": "loss_b",
        "kind": "numeric",
        "correct": False,
        "score": 0.0,
        "expected": 0.045157461274823146,
        "feedback": "0.0651 is the loss in bits; the question asks for nats (natural log): 0.04516.",
        "misconception": {"code": "log_base_2", "message": "You used log base 2 instead of the natural log."},
        "pending": False,
        "model_answer": None,
    },
    {
        "key": "better",
        "kind": "choice",
        "correct": True,
        "score": 1.0,
        "expected": "Student A",
        "feedback": "Right: Student A.",
        "misconception": None,
        "pending": False,
        "model_answer": None,
    },
    {
        "key": "reasoning",
        "kind": "text",
        "correct": None,
        "score": None,
        "expected": None,
        "feedback": "Recorded: an instructor will grade this answer. Compare yours with the model answer.",
        "misconception": None,
        "pending": True,
        "model_answer": "Student A mimics the teacher better: its loss is 0.02681 nats against 0.04516 nats.",
    },
]
SUBMISSION: Final = {
    "id": 41,
    "slug": CARD,
    "title": TITLE,
    "card_version": 1,
    "seed": 0,
    "score": 0.6666666666666666,
    "pending": True,
    "created_at": WHEN,
    "answers": {**ANSWERS, "loss_b": "0.0651"},
    "parts": PARTS,
}
AUTHORED: Final = {
    "slug": "two-students",
    "title": "Which student mimics the teacher?",
    "tags": ["kl-divergence", "distillation"],
    "status": "draft",
    "builtin": False,
    "owner": "teacher@example.edu",
    "version": 1,
    "editable": True,
    "created_at": WHEN,
    "updated_at": WHEN,
}
DECK: Final = {
    "slug": "week-3",
    "title": "Week 3: divergences",
    "description": "KL, its reverse, and the distillation loss.",
    "due_at": "2026-12-11T17:00:00Z",
    "max_attempts": 3,
    "penalty_per_attempt": 0.1,
    "show_solution": "after_correct",
    "status": "published",
    "builtin": False,
    "editable": False,
    "cards": [
        {"slug": CARD, "title": TITLE, "position": 1, "available": True},
        {"slug": "closest-student", "title": "Which Student Is Guided Best?", "position": 2, "available": True},
    ],
    "progress": {
        "score": 0.5,
        "cards": [
            {"slug": CARD, "seed": 232910565, "attempts": 1, "attempts_left": 2, "best": 1.0, "pending": False},
            {
                "slug": "closest-student",
                "seed": 1098031765,
                "attempts": 0,
                "attempts_left": 3,
                "best": 0.0,
                "pending": False,
            },
        ],
    },
}
PART_STATS: Final = {
    "key": "loss_a",
    "kind": "numeric",
    "label": "Loss for Student A, $\\mathrm{KL}(P \\parallel Q_A)$",
    "answered": 40,
    "graded": 40,
    "correct": 31,
    "facility": 0.775,
    "discrimination": 0.62,
    "discrimination_n": 40,
    "wrong_answers": [{"answer": "0.0387", "misconception": "log_base_2", "count": 5}],
}
CARD_STATS: Final = {
    "slug": CARD,
    "title": TITLE,
    "submissions": 40,
    "learners": 25,
    "mean_score": 0.81,
    "pending": 3,
    "parts": [PART_STATS],
    "histogram": [{"low": 0.8, "high": 0.9, "count": 12}, {"low": 0.9, "high": 1.0, "count": 21}],
}
WEBHOOK: Final = {
    "id": 1,
    "url": "https://lms.example.edu/hooks/distill",
    "events": ["submission.graded", "submission.regraded"],
    "created_at": WHEN,
}
QUEUE_ITEM: Final = {
    "submission_id": 41,
    "part_key": "reasoning",
    "part_label": "Explain your reasoning.",
    "card_slug": CARD,
    "card_title": TITLE,
    "deck_slug": "week-3",
    "learner": "lms-user-123",
    "attempt": 1,
    "created_at": WHEN,
    "answer": "A's KL is lower.",
    "model_answer": "Student A mimics the teacher better: its loss is 0.02681 nats against 0.04516 nats.",
}
