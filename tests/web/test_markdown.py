"""Card Markdown: formulas become MathML on the server, and nothing an author writes can run in the page."""

from __future__ import annotations

import pytest

from app.web import markdown
from app.web.markdown import latex_to_mathml, sanitise, to_html, to_inline_html


def test_inline_and_display_math_become_mathml() -> None:
    html = to_html("Loss $\\sum_x P(x) \\ln \\frac{P(x)}{Q(x)}$ is\n\n$$\\mathrm{KL}(P \\parallel Q) = 0.0268$$\n")
    assert '<span class="math inline"><math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in html
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in html
    assert "<mfrac>" in html
    assert "<mn>0.0268</mn>" in html
    assert "$" not in html


def test_commonmark_and_tables() -> None:
    html = to_html("**Student A**\n\n| x | P |\n|---|--:|\n| apple | 0.7 |\n")
    assert "<strong>Student A</strong>" in html
    assert "<table>" in html
    assert '<td class="align-right">0.7</td>' in html  # a class: the CSP forbids inline styles


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ('<img src="x.png" onerror="alert(1)">', "onerror"),
        ('<a href="javascript:alert(1)">x</a>', "javascript:"),
        ("[x](javascript:alert(1))", 'href="javascript:'),
        ('<p onclick="steal()">x</p>', "onclick"),
        ("<style>body{display:none}</style>", "<style"),
        ("<iframe src='https://example.org'></iframe>", "<iframe"),
        ("$\\text{<script>alert(1)</script>}$", "<script"),
        ("$\\href{javascript:alert(1)}{x}$", "javascript:"),
    ],
)
def test_sanitising_drops_what_could_run(source: str, forbidden: str) -> None:
    assert forbidden not in to_html(source + "\n\nand $x^2$")
    assert "<math" in to_html(source + "\n\nand $x^2$")


def test_sanitising_keeps_mathml_and_drops_script_in_one_document() -> None:
    html = to_html('Before <script>alert(1)</script> <img src="a.png" onerror="alert(2)"> $a < b$ after')
    assert "<script" not in html and "alert(1)" not in html
    assert "onerror" not in html
    assert "<math" in html
    assert "<mo>&lt;</mo>" in html  # a less-than sign in a formula stays text, not markup


def test_malformed_latex_is_shown_as_source_not_an_error() -> None:
    html = to_html("broken $x^$ here")
    assert '<code class="math-error"' in html
    assert "x^" in html


def test_math_error_source_is_escaped() -> None:
    assert "&lt;b&gt;" in latex_to_mathml("<b>^", display=False)


def test_dollar_amounts_stay_text() -> None:
    assert "<math" not in to_html("It costs $3 and $4 today.")


def test_inline_rendering_has_no_paragraph() -> None:
    html = to_inline_html("Loss for Student A, $\\mathrm{KL}(P \\parallel Q_A)$")
    assert not html.startswith("<p>")
    assert "<msub><mi>Q</mi><mi>A</mi></msub>" in html


def test_rendering_is_cached_per_source() -> None:
    source = "A cached formula: $\\frac{a}{b}$"
    first = to_html(source)
    hits = markdown._to_html.cache_info().hits
    assert to_html(source) == first
    assert markdown._to_html.cache_info().hits == hits + 1


def test_sanitise_keeps_only_layout_attributes_on_mathml() -> None:
    html = sanitise(
        '<math display="block" onmouseover="x()"><mi mathvariant="normal" href="https://e.org">K</mi></math>'
    )
    assert 'display="block"' in html and 'mathvariant="normal"' in html
    assert "onmouseover" not in html and "href" not in html
