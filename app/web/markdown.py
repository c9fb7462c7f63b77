r"""Card Markdown to safe HTML: CommonMark with tables, ``$...$`` and ``$$...$$`` typeset as MathML on the server.

The app runs offline, so formulas are converted here (latex2mathml) rather than by a script in the browser.
Everything, author HTML included, then passes an allow-list sanitiser (nh3) that keeps MathML but drops
scripts, event handlers and ``javascript:`` URLs: ``to_html(r"KL is $\sum_x P(x) \ln \frac{P(x)}{Q(x)}$")``
gives ``<p>KL is <span class="math inline"><math ...>...</math></span></p>``.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Final
from xml.etree.ElementTree import tostring

import nh3
from markupsafe import Markup

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_core import StateCore

# MathML Core's elements, plus the presentation elements latex2mathml emits beyond it.
MATHML_TAGS: Final = frozenset(
    {
        "math", "annotation", "semantics", "merror", "mfrac", "mi", "mmultiscripts", "mn", "mo", "mover",
        "mpadded", "mphantom", "mprescripts", "mroot", "mrow", "ms", "mspace", "msqrt", "mstyle", "msub",
        "msubsup", "msup", "mtable", "mtd", "mtext", "mtr", "munder", "munderover", "none", "menclose",
        "mfenced", "mlabeledtr",
    }
)  # fmt: skip
# Layout attributes only: no href (MathML 3 allowed links on any element) and no colours (contrast).
_MATHML_ATTRIBUTES: Final = frozenset(
    {
        "display", "displaystyle", "scriptlevel", "mathvariant", "stretchy", "fence", "separator", "form",
        "lspace", "rspace", "largeop", "movablelimits", "symmetric", "minsize", "maxsize", "accent",
        "accentunder", "linethickness", "width", "height", "depth", "voffset", "columnalign", "rowalign",
        "columnspacing", "rowspacing", "columnlines", "rowlines", "frame", "notation", "open", "close",
        "separators", "encoding", "columnspan", "rowspan",
    }
)  # fmt: skip

_TAGS: Final = frozenset(nh3.ALLOWED_TAGS) | MATHML_TAGS
_ATTRIBUTES: Final[dict[str, set[str]]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    **{tag: set(_MATHML_ATTRIBUTES) for tag in MATHML_TAGS},
}
_ATTRIBUTES["math"].add("xmlns")
# Table column alignment is a class (styled in static/app.css), never an inline style, which the
# Content-Security-Policy (style-src 'self') would block.
_ALIGN_CLASSES: Final = {"align-left", "align-center", "align-right"}
_CLASSES: Final = {
    "span": {"math", "inline"},
    "div": {"math", "block"},
    "code": {"math-error"},
    "th": _ALIGN_CLASSES,
    "td": _ALIGN_CLASSES,
}
_URL_SCHEMES: Final = {"http", "https", "mailto"}

# latex2mathml writes symbols as character references in element text (``&#x02211;``); ElementTree escapes
# the ampersand, and the library's own ``unescape`` of the whole document would also unescape a learner-visible
# ``<`` into markup. Restoring only the character references keeps ``a < b`` as text.
_ESCAPED_REFERENCE: Final = re.compile(r"&amp;(#x[0-9A-Fa-f]+;)")


def latex_to_mathml(latex: str, *, display: bool) -> str:
    """One formula as a ``<math>`` element; LaTeX that cannot be converted is shown as escaped source."""
    # latex2mathml loads its symbol tables on import: with the first formula rather than when the app starts.
    from latex2mathml.converter import convert_to_element

    try:
        element = convert_to_element(latex, display="block" if display else "inline")
    # latex2mathml raises a dozen unrelated Exception subclasses (and IndexError) for malformed input.
    except Exception:
        from markdown_it.common.utils import escapeHtml

        return f'<code class="math-error" title="This formula could not be typeset">{escapeHtml(latex)}</code>'
    return _ESCAPED_REFERENCE.sub(r"&\1", tostring(element, encoding="unicode"))


def _render_math(content: str, options: dict[str, Any]) -> str:
    return latex_to_mathml(content, display=bool(options.get("display_mode")))


def _alignment_classes(state: StateCore) -> None:
    """``<td style="text-align:right">`` from a ``---:`` column becomes ``<td class="align-right">``."""
    for token in state.tokens:
        style = token.attrs.get("style") if token.type in ("th_open", "td_open") else None
        if isinstance(style, str) and style.startswith("text-align:"):
            del token.attrs["style"]
            token.attrSet("class", "align-" + style.removeprefix("text-align:"))


@cache
def _parser() -> MarkdownIt:
    """The parser, built with the first text rendered: a server's start renders none, so it loads no markdown-it."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark").enable("table")
    md.core.ruler.push("alignment_classes", _alignment_classes)
    # allow_digits=False: "costs $3 and $4" stays text; card math never touches a digit outside its dollars.
    dollarmath_plugin(md, allow_digits=False, renderer=_render_math)
    return md


def sanitise(html: str) -> str:
    """Keep the allow-listed HTML and MathML; drop scripts, event handlers, styles and unsafe URLs."""
    return nh3.clean(
        html,
        tags=set(_TAGS),
        attributes=_ATTRIBUTES,
        allowed_classes=_CLASSES,
        url_schemes=_URL_SCHEMES,
    )


@lru_cache(maxsize=2048)
def _to_html(source: str) -> str:
    return sanitise(_parser().render(source))


def to_html(source: str) -> Markup:
    """Card Markdown with LaTeX as sanitised HTML, safe to put into a template unescaped (cached per source)."""
    return Markup(_to_html(source))


@lru_cache(maxsize=2048)
def _to_inline_html(source: str) -> str:
    return sanitise(_parser().renderInline(source))


def to_inline_html(source: str) -> Markup:
    """One line of card Markdown (a part's label, an option) without the surrounding paragraph."""
    return Markup(_to_inline_html(source))
