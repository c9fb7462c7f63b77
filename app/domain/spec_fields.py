"""Checks for the fields of a card spec, each reporting what is wrong as (field path, message) findings.

``cards.parse_spec`` puts these together; they are kept apart so that each field's rules read on their own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from app.domain import draws
from app.domain.expressions import FUNCTIONS, ExpressionError, check_expression, check_template

MAX_PARAMS: Final = 50
MAX_CONSTRAINTS: Final = 20
MAX_CHOICES: Final = 26
MAX_TAGS: Final = 20
MAX_TEMPLATE: Final = 20_000  # characters in a prompt or solution
MAX_EXPRESSION: Final = 1_000
SLUG_PATTERN: Final = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
KEY_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]*")
NAME_PATTERN: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Words Jinja reads as operators or constants, and names its templates use for themselves.
RESERVED_NAMES: Final = frozenset(
    {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None",
     "loop", "self", "caller", "varargs", "kwargs"}
)
CARD_FIELDS: Final = ("slug", "title", "tags", "params", "prompt", "parts", "solution", "constraints")
PART_FIELDS: Final = (
    "key", "kind", "label", "answer", "choices", "tolerance", "model_answer", "weight", "unit"
)


class Findings(list[tuple[str, str]]):
    """Problems found so far, as (field path, message) pairs."""

    def add(self, where: str, message: str) -> None:
        self.append((where, message))


def describe(value: Any) -> str:
    """What kind of value an author wrote, in their words rather than Python's."""
    if value is None:
        return "empty (null)"
    kinds = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list"}
    return kinds.get(type(value), type(value).__name__)


def unknown_fields(data: Mapping[Any, Any], known: Sequence[str], prefix: str, out: Findings) -> None:
    """Refuse fields the spec does not know, suggesting the likely intended one (a typo is silently lost)."""
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(known)}"
            out.add(f"{prefix}{key}", f"is not a known field ({hint})")


def text(value: Any, where: str, out: Findings, *, limit: int, required: bool = True) -> str:
    """A string field; ``required`` ones must also be non-blank."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        out.add(where, "is missing" if value is None else f"must be text, not {describe(value)}")
        return ""
    if required and not value.strip():
        out.add(where, "must not be empty")
    elif len(value) > limit:
        out.add(where, f"is {len(value):,} characters long; at most {limit:,} are allowed")
    return value


def template(value: Any, where: str, names: set[str], out: Findings, *, limit: int, required: bool) -> str:
    """A text with ``{{ }}`` placeholders over ``names``, checked without running it."""
    before = len(out)
    source = text(value, where, out, limit=limit, required=required)
    if len(out) == before and source:
        try:
            check_template(source, names=names)
        except ExpressionError as exc:
            out.add(where, str(exc))
    return source


def expression(value: Any, where: str, names: set[str], out: Findings) -> str:
    """One expression over ``names`` and the card functions, checked without running it."""
    if draws.is_number(value):  # YAML reads `answer: 0.5` as a number; it is also a valid expression
        value = repr(value)
    before = len(out)
    source = text(value, where, out, limit=MAX_EXPRESSION)
    if len(out) == before:
        try:
            check_expression(source, names=names)
        except ExpressionError as exc:
            out.add(where, str(exc))
    return source


def params(value: Any, out: Findings) -> tuple[dict[str, Any], set[str]]:
    """The valid parameters, and every name given (so an expression using a bad one is not reported too)."""
    if value is None:
        return {}, set()
    if not isinstance(value, Mapping):
        out.add("params", f"must be a mapping of names to values, not {describe(value)}")
        return {}, set()
    if len(value) > MAX_PARAMS:
        out.add("params", f"has {len(value)} parameters; at most {MAX_PARAMS} are allowed")
    params: dict[str, Any] = {}
    for name, given in value.items():
        where = f"params.{name}"
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            out.add(where, "is not a valid name: start with a letter, then letters, digits or _")
        elif name in FUNCTIONS:
            out.add(where, f"hides the built-in function or constant '{name}'; choose another name")
        elif name in RESERVED_NAMES:
            out.add(where, f"'{name}' is a reserved word; choose another name")
        reasons = draws.draw_problems(given) if draws.is_draw(given) else [draws.value_problem(given)]
        for reason in filter(None, reasons):
            out.add(where, reason)
        if not any(reasons):
            params[str(name)] = draws.plain(given)
    return params, {str(name) for name in value}


def tolerance(value: Any, where: str, out: Findings, *, rtol: float, atol: float) -> tuple[float, float]:
    """(rtol, atol): each a finite number of at least 0, the given defaults when left out."""
    if value is None:
        return rtol, atol
    if not isinstance(value, Mapping):
        out.add(where, f"must be a mapping such as {{rtol: 0.01, atol: 0.0005}}, not {describe(value)}")
        return rtol, atol
    unknown_fields(value, ("rtol", "atol"), f"{where}.", out)
    bounds = {"rtol": rtol, "atol": atol}
    for name, default in bounds.items():
        given = value.get(name, default)
        if draws.is_number(given) and given >= 0:
            bounds[name] = float(given)
        else:
            out.add(f"{where}.{name}", "must be a finite number of at least 0")
    return bounds["rtol"], bounds["atol"]


def choices(value: Any, where: str, names: set[str], out: Findings) -> tuple[str, ...]:
    """2 to MAX_CHOICES different option templates."""
    if not isinstance(value, list | tuple) or not 2 <= len(value) <= MAX_CHOICES:
        out.add(where, f"needs a list of 2 to {MAX_CHOICES} options")
        return ()
    for j, option in enumerate(value):
        if isinstance(option, bool | int | float):  # YAML reads an unquoted yes/no as true/false
            out.add(f"{where}[{j}]", f"must be text, not {describe(option)}; put the option in quotes")
        else:
            template(option, f"{where}[{j}]", names, out, limit=500, required=True)
    if len(set(map(str, value))) != len(value):
        out.add(where, "has the same option twice; every option must be different")
    return tuple(map(str, value))


def tags(value: Any, out: Findings) -> tuple[str, ...]:
    """A list of short labels for finding cards."""
    if value is None:
        return ()
    ok = isinstance(value, list | tuple) and len(value) <= MAX_TAGS
    if not ok or not all(isinstance(t, str) and 0 < len(t.strip()) <= 40 for t in value):
        out.add("tags", f"must be a list of at most {MAX_TAGS} short texts (each 1 to 40 characters)")
        return ()
    return tuple(value)


def constraints(value: Any, names: set[str], out: Findings) -> tuple[str, ...]:
    """Expressions every variant must make true."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or len(value) > MAX_CONSTRAINTS:
        out.add("constraints", f"must be a list of at most {MAX_CONSTRAINTS} expressions")
        return ()
    return tuple(expression(c, f"constraints[{i}]", names, out) for i, c in enumerate(value))
