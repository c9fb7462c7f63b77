"""The form for the common card: title, tags, ``name = value`` parameters, a prompt, numeric, choice and text
parts, a solution. It builds the spec's data, which is validated like any YAML; each problem is then shown
beside the form field it belongs to (``parts[1].answer`` → the second filled part's answer box).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from starlette.datastructures import FormData

from app.services.spec_yaml import InvalidSpec, SpecProblem, read_spec_text

PART_SLOTS: Final = 6  # parts offered at once; a card with more is written as YAML
PART_KINDS: Final = ("numeric", "choice", "text")
MAX_FIELD: Final = 20_000  # characters kept of any one field; the spec's own limits say more
_SLUG_WORDS: Final = re.compile(r"[a-z0-9]+")
_PART_FIELD: Final = re.compile(r"parts\[(\d+)\](?:\.(\w+))?")
# Spec fields of a part → the form's own name for the box that holds them.
_PART_BOXES: Final = {"tolerance": "rtol", "weight": "label"}


@dataclass(frozen=True)
class PartInput:
    kind: str = "numeric"
    key: str = ""
    label: str = ""
    answer: str = ""
    rtol: str = ""
    atol: str = ""
    unit: str = ""
    choices: str = ""  # one option per line
    model_answer: str = ""

    @property
    def blank(self) -> bool:
        return not any((self.key, self.label, self.answer, self.choices, self.model_answer))


@dataclass(frozen=True)
class CardFormInput:
    """The form as typed, field by field, and what is wrong with it (form field name → messages)."""

    title: str = ""
    slug: str = ""
    tags: str = ""
    params: str = ""  # one ``name = value`` per line
    prompt: str = ""
    solution: str = ""
    constraints: str = ""  # one expression per line
    parts: tuple[PartInput, ...] = tuple(PartInput() for _ in range(PART_SLOTS))
    errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.replace("\r\n", "\n")[:MAX_FIELD] if isinstance(value, str) else ""


def read_card_form(form: FormData) -> CardFormInput:
    """The fields of a posted card form, as typed."""
    parts = []
    for slot in range(PART_SLOTS):
        values = {name: _text(form, f"part-{slot}-{name}") for name in PartInput.__dataclass_fields__}
        if values["kind"] not in PART_KINDS:
            values["kind"] = "numeric"
        parts.append(PartInput(**values))
    return CardFormInput(
        title=_text(form, "title"),
        slug=_text(form, "slug"),
        tags=_text(form, "tags"),
        params=_text(form, "params"),
        prompt=_text(form, "prompt"),
        solution=_text(form, "solution"),
        constraints=_text(form, "constraints"),
        parts=tuple(parts),
    )


def slug_from(title: str) -> str:
    """A slug made of the title's words: ``"KL for Two Students"`` → ``kl-for-two-students``."""
    return "-".join(_SLUG_WORDS.findall(title.lower()))[:80].strip("-")


def _quoted(option: str) -> str:
    """An option as an expression's string literal, so the right option can be typed as itself."""
    return "'" + option.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _params(text: str, errors: dict[str, list[str]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip() or not value.strip():
            errors.setdefault("params", []).append(f"line {number}: write one `name = value` per line")
            continue
        try:
            # A value is written as in YAML: 0.5, [0.7, 0.2, 0.1], {dirichlet: [8, 1, 1], decimals: 2}, text.
            params[name.strip()], _ = read_spec_text(value.strip())
        except InvalidSpec as exc:
            errors.setdefault("params", []).append(f"line {number} ({name.strip()}): {exc.problems[0].message}")
    return params


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _part(part: PartInput) -> dict[str, Any]:
    data: dict[str, Any] = {"key": part.key.strip(), "kind": part.kind, "label": part.label.strip()}
    if part.kind == "text":
        data["model_answer"] = part.model_answer
        return data
    answer = part.answer.strip()
    if part.kind == "choice":
        choices = _lines(part.choices)
        data["choices"] = choices
        # The right option typed as itself is the common case; anything else is an expression.
        data["answer"] = _quoted(answer) if answer in choices else answer
        return data
    data["answer"] = answer
    tolerance = {name: value.strip() for name, value in (("rtol", part.rtol), ("atol", part.atol)) if value.strip()}
    if tolerance:
        data["tolerance"] = {name: _number(value) for name, value in tolerance.items()}
    if part.unit.strip():
        data["unit"] = part.unit.strip()
    return data


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # left as typed: the spec's check says what is wrong with it


def build_spec(data: CardFormInput) -> tuple[dict[str, Any], dict[str, list[str]], list[int]]:
    """The spec the form describes, the problems found while reading it, and the form slot of each part."""
    errors: dict[str, list[str]] = {}
    slots = [slot for slot, part in enumerate(data.parts) if not part.blank]
    spec: dict[str, Any] = {
        "slug": data.slug.strip() or slug_from(data.title),
        "title": data.title.strip(),
        "tags": [tag.strip() for tag in data.tags.split(",") if tag.strip()],
        "params": _params(data.params, errors),
        "prompt": data.prompt,
        "parts": [_part(data.parts[slot]) for slot in slots],
        "solution": data.solution,
    }
    constraints = _lines(data.constraints)
    if constraints:
        spec["constraints"] = constraints
    return spec, errors, slots


def form_field(problem: SpecProblem, slots: Sequence[int]) -> tuple[str, str]:
    """The form field a spec problem belongs to, and the message to show there."""
    where = problem.field or "form"
    found = _PART_FIELD.match(where)
    if found:
        index, name = int(found.group(1)), found.group(2)
        if index < len(slots) and name:
            detail = where[found.end() :].lstrip(".")
            box = _PART_BOXES.get(name, name)
            if name == "tolerance" and detail == "atol":
                box, detail = "atol", ""
            elif name == "tolerance" and detail == "rtol":
                detail = ""
            if box not in PartInput.__dataclass_fields__:
                box, detail = "label", ".".join(filter(None, (name, detail)))
            option = re.fullmatch(r"\[(\d+)\]", detail)
            prefix = f"option {int(option.group(1)) + 1}: " if option else f"{detail}: " if detail else ""
            return f"part-{slots[index]}-{box}", prefix + problem.message
        return "parts", problem.message
    head, _, rest = where.partition(".")
    head = head.split("[")[0]
    if head in ("title", "slug", "tags", "prompt", "solution", "params", "constraints", "parts"):
        if head == "params" and rest:
            return "params", f"{rest}: {problem.message}"
        line = re.match(r"constraints\[(\d+)\]", where)
        if line:
            return "constraints", f"line {int(line.group(1)) + 1}: {problem.message}"
        return head, problem.message
    return "form", f"{where}: {problem.message}"


def with_errors(
    data: CardFormInput, problems: Sequence[SpecProblem], slots: Sequence[int], read: Mapping[str, list[str]]
) -> CardFormInput:
    """The form again, each problem beside its field."""
    errors: dict[str, list[str]] = {name: list(messages) for name, messages in read.items()}
    for problem in problems:
        name, message = form_field(problem, slots)
        errors.setdefault(name, []).append(message)
    return replace(data, errors={name: tuple(messages) for name, messages in errors.items()})
