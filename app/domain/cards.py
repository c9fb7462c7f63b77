"""Cards: the spec model, validation, seeded variants and their answers.

PrairieLearn's shape: ``parse_spec(data) -> CardSpec``, ``generate(spec, seed) -> Variant`` and, in
``grading``, ``grade(spec, variant, answers)``; plain functions over JSON-safe data, so any grade can be
reproduced from the stored spec and seed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np

from app.domain import draws
from app.domain import spec_fields as fields
from app.domain.divergence import Breakdown
from app.domain.expressions import ExpressionError, evaluate, evaluate_traced, render

PartKind = Literal["numeric", "choice", "multi", "text"]
PART_KINDS: tuple[PartKind, ...] = ("numeric", "choice", "multi", "text")
AUTO_GRADED: tuple[PartKind, ...] = ("numeric", "choice", "multi")

# An answer as computed for a variant: a number (numeric, possibly inf), an option (choice),
# the set of correct options (multi), or None (text: graded by a person).
Expected = float | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Tolerance:
    """A numeric answer s is right when |s − c| ≤ atol + rtol·|c|."""

    rtol: float = 0.01
    atol: float = 1e-4


@dataclass(frozen=True)
class PartSpec:
    key: str  # [a-z][a-z0-9_]*, unique in its card; the form field and the JSON key
    kind: PartKind
    label: str  # a template: may use {{ }}
    answer: str | None = None  # expression; required for numeric, choice and multi
    choices: tuple[str, ...] = ()  # the options of choice and multi parts (templates)
    tolerance: Tolerance = field(default_factory=Tolerance)
    model_answer: str | None = None  # text parts: shown after submitting, used by the grader (template)
    weight: float = 1.0
    unit: str | None = None  # shown beside a numeric input, e.g. "nats"


@dataclass(frozen=True)
class CardSpec:
    slug: str
    title: str
    tags: tuple[str, ...]
    params: Mapping[str, Any]  # fixed values, or draw specs such as {"dirichlet": [8, 1, 1], "decimals": 2}
    prompt: str  # Markdown + LaTeX with {{ }} placeholders
    parts: tuple[PartSpec, ...]
    solution: str  # Markdown with {{ }} placeholders, shown after submitting
    constraints: tuple[str, ...] = ()  # expressions every variant must satisfy


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: ``field`` is a path such as ``parts[1].answer`` or ``params.P``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SpecError(ValueError):
    """A card spec that cannot be used; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class VariantPart:
    """A part as the learner sees it: never the answer."""

    key: str
    kind: PartKind
    label: str
    choices: tuple[str, ...] = ()
    unit: str | None = None


@dataclass(frozen=True)
class Variant:
    slug: str
    seed: int
    params: Mapping[str, Any]  # the values as shown to the learner, JSON-safe
    prompt: str  # Markdown, placeholders filled
    parts: tuple[VariantPart, ...]
    answers: Mapping[str, Expected]  # computed from the shown values
    model_answers: Mapping[str, str]  # text parts
    solution: str  # Markdown, placeholders filled
    workings: Mapping[str, tuple[Breakdown, ...]]  # per part: the divergences its answer computes, termwise


class VariantError(ValueError):
    """A seed for which no variant can be made; ``problems`` names each failing field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


MAX_PARTS: Final = 20
MAX_REDRAWS: Final = 200  # draws tried per seed before the constraints are declared unsatisfiable
MAX_SEED: Final = 2**31


def _problems(findings: Sequence[tuple[str, str]]) -> list[Problem]:
    return [Problem(where, message) for where, message in findings]


# --- validation -------------------------------------------------------------------------------------


def _part(data: Any, where: str, names: set[str], out: fields.Findings) -> PartSpec | None:
    if not isinstance(data, Mapping):
        out.add(where, f"must be a mapping with key, kind and the part's fields, not {fields.describe(data)}")
        return None
    fields.unknown_fields(data, fields.PART_FIELDS, f"{where}.", out)
    key = data.get("key")
    if key is None:
        out.add(f"{where}.key", "is missing")
    elif not (isinstance(key, str) and fields.KEY_PATTERN.fullmatch(key) and len(key) <= 40):
        out.add(f"{where}.key", f"{key!r} is not a valid key: a lowercase letter, then a-z, 0-9 or _")
    key = str(key)
    kind = next((k for k in PART_KINDS if k == data.get("kind")), None)
    if kind is None:
        out.add(f"{where}.kind", f"must be one of {', '.join(PART_KINDS)}, not {data.get('kind')!r}")
    else:
        misplaced = {"answer": kind == "text", "choices": kind in ("numeric", "text"),
                     "unit": kind != "numeric", "tolerance": kind != "numeric", "model_answer": kind != "text"}
        for name in (name for name, wrong in misplaced.items() if wrong and name in data):
            out.add(f"{where}.{name}", f"does not apply to a {kind} part; remove it")

    def wanted(name: str, kinds: tuple[str, ...]) -> bool:
        # With an unknown kind, still check what was given, so one run reports every problem.
        return kind in kinds if kind else name in data

    label = data.get("label") or key.replace("_", " ").capitalize()  # an input always needs a visible label
    label = fields.template(label, f"{where}.label", names, out, limit=500, required=True)
    choices: tuple[str, ...] = ()
    if wanted("choices", ("choice", "multi")):
        choices = fields.choices(data.get("choices"), f"{where}.choices", names, out)
    answer = None
    if wanted("answer", AUTO_GRADED):
        before = len(out)
        answer = fields.expression(data.get("answer"), f"{where}.answer", names, out)
        if len(out) > before and answer in choices:
            hint = f"; to give an option, quote it: \"'{answer}'\""
            out[-1] = (out[-1][0], out[-1][1] + hint)
    model_answer = None
    if wanted("model_answer", ("text",)):
        model_answer = fields.template(
            data.get("model_answer"), f"{where}.model_answer", names, out, limit=5_000, required=True
        )
    weight = data.get("weight", 1.0)
    if not (draws.is_number(weight) and 0 < weight <= 1_000):
        out.add(f"{where}.weight", "must be a number greater than 0 (at most 1000)")
    unit = None if data.get("unit") is None else fields.text(data.get("unit"), f"{where}.unit", out, limit=40)
    return PartSpec(
        key=key, kind=kind or "numeric", label=label, answer=answer, choices=choices,
        tolerance=Tolerance(*fields.tolerance(data.get("tolerance"), f"{where}.tolerance", out,
                                              rtol=Tolerance.rtol, atol=Tolerance.atol)),
        model_answer=model_answer, weight=float(weight) if draws.is_number(weight) else 1.0, unit=unit,
    )


def _parts(value: Any, names: set[str], out: fields.Findings) -> tuple[PartSpec, ...]:
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= MAX_PARTS:
        out.add("parts", f"needs a list of 1 to {MAX_PARTS} parts" + ("" if value is None else
                f", not {len(value) if isinstance(value, list | tuple) else fields.describe(value)}"))
        if not isinstance(value, list | tuple):
            return ()
    parts = tuple(_part(data, f"parts[{i}]", names, out) for i, data in enumerate(value))
    seen: set[str] = set()
    for i, part in enumerate(parts):
        if part is not None and part.key in seen:
            out.add(f"parts[{i}].key", f"'{part.key}' is used by an earlier part; keys must be unique")
        seen.add(part.key if part else "")
    return tuple(p for p in parts if p is not None)


def _build_spec(data: Any, out: fields.Findings) -> CardSpec | None:
    """The spec, when ``data`` passes every static check; the problems are added to ``out`` either way."""
    if not isinstance(data, Mapping):
        out.add("spec", f"must be a mapping of card fields, not {fields.describe(data)}")
        return None
    fields.unknown_fields(data, fields.CARD_FIELDS, "", out)
    slug = fields.text(data.get("slug"), "slug", out, limit=80)
    if slug and not fields.SLUG_PATTERN.fullmatch(slug):
        out.add("slug", f"{slug!r} must be lowercase letters and digits in words joined by single hyphens")
    params, names = fields.params(data.get("params"), out)
    limit = fields.MAX_TEMPLATE
    spec = CardSpec(
        slug=slug,
        title=fields.text(data.get("title"), "title", out, limit=200),
        tags=fields.tags(data.get("tags"), out),
        params=params,
        prompt=fields.template(data.get("prompt"), "prompt", names, out, limit=limit, required=True),
        parts=_parts(data.get("parts"), names, out),
        solution=fields.template(data.get("solution"), "solution", names, out, limit=limit, required=False),
        constraints=fields.constraints(data.get("constraints"), names, out),
    )
    return None if out else spec


def parse_spec(data: Mapping[str, Any]) -> CardSpec:
    """Validate a card spec (parsed YAML or JSON) and build it; ``SpecError`` lists every problem found.

    Expressions and templates are checked without running; then seed 0 is generated, so an answer that
    fails when evaluated (``kl`` over lists of different lengths) is refused too.
    """
    problems = fields.Findings()
    spec = _build_spec(data, problems)
    if spec is None:
        raise SpecError(_problems(problems))
    try:
        generate(spec, 0)
    except VariantError as exc:
        raise SpecError(exc.problems) from None
    return spec


def is_drawn(spec: CardSpec) -> bool:
    """Whether any parameter is drawn per seed, so that different seeds give different variants."""
    return any(draws.is_draw(value) for value in spec.params.values())


def stored_is_drawn(data: Mapping[str, Any]) -> bool:
    """``is_drawn`` of a spec ``parse_spec`` accepted, read from its data (e.g. ``spec_to_dict``'s) unparsed.

    A list of cards needs only this flag; parsing each spec in full (and generating seed 0 to check it) to learn
    it cost a quarter of a second on the first list after a start. A valid spec keeps every parameter as given,
    and a parameter is drawn exactly when it is written as a mapping, so the data answers the same.
    """
    params = data.get("params")
    return isinstance(params, Mapping) and any(draws.is_draw(value) for value in params.values())


def spec_to_dict(spec: CardSpec) -> dict[str, Any]:
    """The canonical JSON- and YAML-safe form; ``parse_spec(spec_to_dict(spec)) == spec``."""
    parts = []
    for part in spec.parts:
        data: dict[str, Any] = {"key": part.key, "kind": part.kind, "label": part.label}
        if part.answer is not None:
            data["answer"] = part.answer
        if part.kind in ("choice", "multi"):
            data["choices"] = list(part.choices)
        if part.kind == "numeric":
            data["tolerance"] = {"rtol": part.tolerance.rtol, "atol": part.tolerance.atol}
        if part.model_answer is not None:
            data["model_answer"] = part.model_answer
        data["weight"] = part.weight
        if part.unit is not None:
            data["unit"] = part.unit
        parts.append(data)
    return {
        "slug": spec.slug,
        "title": spec.title,
        "tags": list(spec.tags),
        "params": draws.plain(spec.params),
        "prompt": spec.prompt,
        "parts": parts,
        "solution": spec.solution,
        "constraints": list(spec.constraints),
    }


# --- variants ---------------------------------------------------------------------------------------


def _failed_constraint(spec: CardSpec, params: Mapping[str, Any]) -> int | None:
    """The index of the first constraint the values break, or None when all hold."""
    for i, source in enumerate(spec.constraints):
        try:
            holds = evaluate(source, params)
        except ExpressionError as exc:
            raise VariantError([Problem(f"constraints[{i}]", str(exc))]) from None
        if not isinstance(holds, bool):
            raise VariantError([Problem(f"constraints[{i}]", f"must be true or false, not {holds!r}")])
        if not holds:
            return i
    return None


def _shown_params(spec: CardSpec, seed: int) -> dict[str, Any]:
    """The parameter values for ``seed``, drawn in spec order and redrawn until the constraints hold."""
    misses: Counter[int] = Counter()
    for attempt in range(MAX_REDRAWS if is_drawn(spec) else 1):
        rng = np.random.default_rng([seed, attempt])
        params: dict[str, Any] = {}
        for name, value in spec.params.items():
            try:
                params[name] = draws.draw(value, rng) if draws.is_draw(value) else draws.plain(value)
            except (ValueError, TypeError, KeyError, StopIteration) as exc:
                raise VariantError([Problem(f"params.{name}", f"cannot be drawn: {exc}")]) from None
        failed = _failed_constraint(spec, params)
        if failed is None:
            return params
        misses[failed] += 1
    index = misses.most_common(1)[0][0]
    reason = f"is never met in {MAX_REDRAWS} draws" if is_drawn(spec) else "is false for the card's values"
    raise VariantError([Problem(f"constraints[{index}]", f"`{spec.constraints[index]}` {reason}")])


def _expected(part: PartSpec, value: Any, choices: tuple[str, ...]) -> Expected:
    """Check an answer's value against its part's kind: a number, one option, or a list of options."""
    if part.kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(f"must give a number, but gives {value!r}")
        if math.isnan(value):
            raise ExpressionError("gives NaN (not a number) for these values")
        return float(value)
    picked = [value] if part.kind == "choice" else value
    if not isinstance(picked, list | tuple) or not all(isinstance(v, str) for v in picked):
        wanted = "one option as text" if part.kind == "choice" else "a list of options"
        raise ExpressionError(f"must give {wanted}, but gives {value!r}")
    stray = [v for v in picked if v.strip() not in choices]
    if stray:
        raise ExpressionError(f"gives {stray[0]!r}, which is not one of the options {list(choices)}")
    chosen = {v.strip() for v in picked}
    return picked[0].strip() if part.kind == "choice" else tuple(c for c in choices if c in chosen)


def _render(source: str, params: Mapping[str, Any], where: str, out: fields.Findings) -> str:
    try:
        return render(source, params)
    except ExpressionError as exc:
        out.add(where, str(exc))
        return ""


def generate(spec: CardSpec, seed: int) -> Variant:
    """The variant for ``seed`` (an int in [0, 2**31)); the same seed always gives the same variant.

    Raises ``VariantError`` naming each failing field, e.g. a constraint never met in MAX_REDRAWS draws.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED - 1}, not {seed!r}")
    params = _shown_params(spec, seed)
    out = fields.Findings()
    prompt = _render(spec.prompt, params, "prompt", out)
    parts: list[VariantPart] = []
    answers: dict[str, Expected] = {}
    model_answers: dict[str, str] = {}
    workings: dict[str, tuple[Breakdown, ...]] = {}
    for i, part in enumerate(spec.parts):
        where = f"parts[{i}]"
        label = _render(part.label, params, f"{where}.label", out).strip()
        before = len(out)
        choices = tuple(
            _render(c, params, f"{where}.choices[{j}]", out).strip() for j, c in enumerate(part.choices)
        )
        if len(out) == before and len(set(choices)) < len(choices):
            out.add(f"{where}.choices", f"two options read the same for these values: {list(choices)}")
        parts.append(VariantPart(key=part.key, kind=part.kind, label=label, choices=choices, unit=part.unit))
        workings[part.key] = ()
        answers[part.key] = None
        if part.kind == "text":
            model_answers[part.key] = _render(part.model_answer or "", params, f"{where}.model_answer", out)
        elif len(out) == before:
            try:
                value, trace = evaluate_traced(part.answer or "", params)
                answers[part.key] = _expected(part, value, choices)
                workings[part.key] = tuple(trace)
            except ExpressionError as exc:
                out.add(f"{where}.answer", str(exc))
    solution = _render(spec.solution, params, "solution", out)
    if out:
        raise VariantError(_problems(out))
    return Variant(
        slug=spec.slug, seed=seed, params=params, prompt=prompt, parts=tuple(parts), answers=answers,
        model_answers=model_answers, solution=solution, workings=workings,
    )


def check_spec(spec: CardSpec, *, seeds: int = 200) -> list[Problem]:
    """Every problem of ``spec`` for seeds 0..seeds-1 (one for an undrawn card), naming the first bad seed."""
    if seeds < 1:
        raise ValueError("seeds must be at least 1")
    static = fields.Findings()
    if _build_spec(spec_to_dict(spec), static) is None:
        return _problems(static)
    first: dict[str, tuple[int, str]] = {}
    failures: Counter[str] = Counter()
    for seed in range(seeds if is_drawn(spec) else 1):
        try:
            generate(spec, seed)
        except VariantError as exc:
            for problem in exc.problems:
                first.setdefault(problem.field, (seed, problem.message))
                failures[problem.field] += 1
    problems = []
    for where, (seed, message) in first.items():
        more = failures[where] - 1
        also = f" (and {more} other seed{'s' if more > 1 else ''})" if more else ""
        problems.append(Problem(where, f"seed {seed}{also}: {message}"))
    return problems
