r"""Card text for another system's question editor: HTML with the maths left as TeX, and the numeric bounds.

An LMS keeps only the HTML its own sanitiser allows and typesets TeX itself (Canvas, Moodle and D2L all run
MathJax over ``\(...\)`` and ``\[...\]``), so formulas travel as TeX source rather than as the MathML the app's
own pages use: where an LMS does not typeset, a learner still reads ``\(P(x)\)``, never a mangled tag soup.
"""

from __future__ import annotations

import math
import re
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Final

import nh3
import numpy as np

from app.domain.cards import Tolerance

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

# Characters XML 1.0 cannot hold at all (not even escaped); a card's text should never have them.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _tex(content: str, options: dict[str, Any]) -> str:
    from markdown_it.common.utils import escapeHtml  # loaded by _parser() already

    # The TeX is text inside HTML: `a < b` must stay text, and MathJax reads the unescaped characters back.
    body = escapeHtml(content)
    return f"\\[{body}\\]" if options.get("display_mode") else f"\\({body}\\)"


@cache
def _parser() -> MarkdownIt:
    """Built with the first export: markdown-it is not loaded by a server's start, which exports nothing."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark").enable("table")
    # The same reading of dollars as the app's pages, so a card exports the formulas it shows.
    dollarmath_plugin(md, allow_digits=False, renderer=_tex)
    return md


def _clean(html: str) -> str:
    # nh3's default allow-list: no scripts, event handlers or javascript: URLs reach another system.
    return _NOT_XML.sub("", nh3.clean(html)).strip()


@lru_cache(maxsize=1024)
def html(source: str) -> str:
    r"""Card Markdown as sanitised HTML with TeX maths: ``html("$x$ nats")`` is ``<p>\(x\) nats</p>``."""
    return _clean(_parser().render(source))


@lru_cache(maxsize=1024)
def inline_html(source: str) -> str:
    """One line of card Markdown (a part's label, an option) without a surrounding paragraph."""
    return _clean(_parser().renderInline(source))


def number(value: float) -> str:
    """A number as every importer reads it: positional, shortest round-trip digits (``2.68e-05`` is ``0.0000268``)."""
    return str(np.format_float_positional(value, unique=True, trim="-"))


def margin(answer: float, tolerance: Tolerance) -> float:
    """How far an answer may be from ``answer`` and still be right: ``atol + rtol·|answer|``, as the app grades."""
    return tolerance.atol + tolerance.rtol * abs(answer)


def bounds(answer: float, tolerance: Tolerance) -> tuple[float, float]:
    """The closed interval of right answers, ``[answer − margin, answer + margin]``."""
    width = margin(answer, tolerance)
    return answer - width, answer + width


def infinity_spellings(value: float) -> tuple[str, ...]:
    """How a learner may write an infinite answer in a text box, where no LMS has a numeric infinity."""
    sign = "-" if value < 0 else ""
    return tuple(sign + word for word in ("inf", "infinity", "∞"))


def is_infinite(value: object) -> bool:
    return isinstance(value, float) and math.isinf(value)
