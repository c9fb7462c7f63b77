r"""A deck as Moodle GIFT text: one question per card part, titled ``::card-slug part-key::``.

Each question is one line: ``::title::[html]prompt{answers####general feedback}``, the cards' text as HTML
with TeX maths (Moodle's MathJax filter typesets it). Questions are separated by a blank line, and every
card's questions go into a category of their own under the deck's (``$CATEGORY:``).

- numeric: ``{#answer:margin}`` with ``margin = atol + rtol·|answer|``, as the app grades (an infinite
  answer becomes a short answer taking ``inf``, ``infinity`` or ``∞``);
- choice: ``{=right ~wrong ...}``;
- multi: ``{~%50%right ~%50%right ~%-50%wrong}``: each right pick earns and each wrong one costs 1/n of the
  mark (n right options; Moodle never goes below 0), as the app grades;
- text: an essay, ``{}``.

In text, ``~ = # { } :`` are escaped with a backslash, a backslash is doubled and a line break is ``\n``:
Moodle's importer reads exactly those escapes back.
"""

from __future__ import annotations

from typing import Final

from app.domain.cards import PartSpec, VariantPart
from app.services.lms_exports import markup
from app.services.lms_exports.qti import feedback_html, part_prompt
from app.services.lms_exports.variants import DeckExport, ExportCard

_ESCAPES: Final = str.maketrans(
    {"\\": "\\\\", "~": "\\~", "=": "\\=", "#": "\\#", "{": "\\{", "}": "\\}", ":": "\\:", "\n": "\\n", "\r": ""}
)


def escape(text: str) -> str:
    r"""Text safe inside a GIFT question: ``escape("a{b}=c")`` is ``a\{b\}\=c``."""
    return text.translate(_ESCAPES)


def percent(share: float) -> str:
    """A GIFT answer weight: 100/3 is ``33.33333``, the precision of Moodle's list of allowed grades."""
    return f"{share:.5f}".rstrip("0").rstrip(".")


def _numeric(spec: PartSpec, answer: float) -> str:
    if markup.is_infinite(answer):
        return " ".join(f"={escape(spelling)}" for spelling in markup.infinity_spellings(answer))
    return f"#{markup.number(answer)}:{markup.number(markup.margin(answer, spec.tolerance))}"


def _option(text: str) -> str:
    return escape(markup.inline_html(text))


def _choice(part: VariantPart, answer: str) -> str:
    return " ".join(("=" if option == answer else "~") + _option(option) for option in part.choices)


def _multi(part: VariantPart, answer: tuple[str, ...]) -> str:
    share = percent(100 / len(answer))
    return " ".join(
        (f"~%{share}%" if option in answer else f"~%-{share}%") + _option(option) for option in part.choices
    )


def _answers(spec: PartSpec, part: VariantPart, answer: object) -> str:
    """What goes between the braces; empty for an essay."""
    if part.kind == "numeric" and isinstance(answer, float):
        return _numeric(spec, answer)
    if part.kind == "choice" and isinstance(answer, str):
        return _choice(part, answer)
    if part.kind == "multi" and isinstance(answer, tuple) and answer:
        return _multi(part, answer)
    # A text part; or a multi part with no right option, which GIFT cannot mark (Moodle wants a positive one).
    return ""


def question(card: ExportCard, spec: PartSpec, part: VariantPart, *, solutions: bool) -> str:
    """One part as a GIFT question, on one line."""
    answer = card.variant.answers.get(part.key)
    body = _answers(spec, part, answer)
    prompt = part_prompt(card, part)
    if part.kind == "multi" and not body:
        options = "".join(f"<li>{markup.inline_html(option)}</li>" for option in part.choices)
        prompt += f"\n<p>Which of these options are right?</p>\n<ul>{options}</ul>"
    feedback = feedback_html(card, part) if solutions else ""
    general = f"####{escape(feedback)}" if feedback else ""
    return f"::{escape(card.slug)} {escape(part.key)}::[html]{escape(prompt)}{{{body}{general}}}"


def render_gift(export: DeckExport) -> str:
    """The whole deck as GIFT text, a comment naming the deck and the seed first."""
    title = " ".join(export.title.split())  # a comment ends at the line's end
    lines = [
        f"// {title} ({export.slug}), variant {export.seed} of every card",
        f"// {len(export.cards)} card(s); solutions {'included' if export.show_solutions else 'left out'}",
    ]
    if export.skipped:
        lines.append(f"// not published, so left out: {', '.join(export.skipped)}")
    lines.append("")
    for card in export.cards:
        lines.extend([f"$CATEGORY: $course$/top/{export.slug}/{card.slug}", ""])
        for spec, part in zip(card.spec.parts, card.variant.parts, strict=True):
            lines.extend([question(card, spec, part, solutions=export.show_solutions), ""])
    return "\n".join(lines)
