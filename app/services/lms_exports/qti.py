"""A deck as a QTI 1.2 assessment, and the content package (``imsmanifest.xml`` + the assessment) LMSs import.

The items follow the shape Canvas writes in its own QTI exports, which Canvas, Blackboard and D2L all read:
``question_type`` and ``points_possible`` in the item metadata, a ``SCORE`` from 0 to 100, and the worked
solution as the general feedback (``general_fb``). Each card is a section of its own holding one item per part
(ident ``card-slug:part-key``), every item carrying the card's prompt above its part's question.

- numeric: a decimal blank, right when ``answer − margin ≤ x ≤ answer + margin`` with ``margin = atol +
  rtol·|answer|``, exactly as the app grades (an infinite answer becomes a text blank taking ``inf``/``∞``);
- choice: one option (``response_lid``, single cardinality) with the right one scoring 100;
- multi: several options (multiple cardinality); exactly the right ones score 100, otherwise each right pick
  adds and each wrong pick takes away ``100/n`` (n right options), never below 0, as the app grades;
- text: an essay, graded by a person.
"""

from __future__ import annotations

import io
import zipfile
from typing import Final
from xml.etree.ElementTree import Element, SubElement, indent, tostring

from app.domain.cards import PartSpec, VariantPart
from app.services.lms_exports import markup
from app.services.lms_exports.variants import DeckExport, ExportCard

QTI_NAMESPACE: Final = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
QTI_SCHEMA: Final = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd"
CP_NAMESPACE: Final = "http://www.imsglobal.org/xsd/imscp_v1p1"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
RESPONSE: Final = "response1"
GENERAL_FEEDBACK: Final = "general_fb"
# Zip entries get one fixed time, so the same deck and seed always make the very same bytes.
_ZIP_TIME: Final = (2020, 1, 1, 0, 0, 0)
_QUESTION_TYPES: Final = {
    "numeric": "numerical_question",
    "choice": "multiple_choice_question",
    "multi": "multiple_answers_question",
    "text": "essay_question",
}


def _add(parent: Element, tag: str, text: str | None = None, **attributes: str) -> Element:
    element = SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _material(parent: Element, html: str) -> None:
    # The HTML is the element's text: escaped once by the serialiser, as QTI 1.2 expects for text/html.
    _add(_add(parent, "material"), "mattext", html, texttype="text/html")


def _metadata(parent: Element, fields: dict[str, str]) -> None:
    block = _add(parent, "qtimetadata")
    for label, entry in fields.items():
        field = _add(block, "qtimetadatafield")
        _add(field, "fieldlabel", label)
        _add(field, "fieldentry", entry)


def choice_ident(part: VariantPart, index: int) -> str:
    """The ident of option ``index`` (0-based) of a part: ``better_1`` for the first."""
    return f"{part.key}_{index + 1}"


def _condition(parent: Element, *, score: float | None, action: str = "Set", stop: bool = True) -> Element:
    """A ``respcondition`` setting (or adding to) SCORE; returns its ``conditionvar`` to fill."""
    condition = SubElement(parent, "respcondition", {"continue": "No" if stop else "Yes"})
    variables = _add(condition, "conditionvar")
    if score is not None:
        _add(condition, "setvar", markup.number(score), action=action, varname="SCORE")
    return variables


def _equal(parent: Element, value: str) -> None:
    _add(parent, "varequal", value, respident=RESPONSE)


def _numeric(presentation: Element, processing: Element, part: PartSpec, answer: float) -> None:
    if markup.is_infinite(answer):
        blank = _add(presentation, "response_str", ident=RESPONSE, rcardinality="Single")
        _add(_add(blank, "render_fib"), "response_label", ident="answer1")
        accepted = _add(_condition(processing, score=100), "or")
        for spelling in markup.infinity_spellings(answer):
            _add(accepted, "varequal", spelling, respident=RESPONSE, case="No")
        return
    blank = _add(presentation, "response_str", ident=RESPONSE, rcardinality="Single")
    _add(_add(blank, "render_fib", fibtype="Decimal"), "response_label", ident="answer1")
    low, high = markup.bounds(answer, part.tolerance)
    accepted = _add(_condition(processing, score=100), "or")
    _equal(accepted, markup.number(answer))
    window = _add(accepted, "and")
    _add(window, "vargte", markup.number(low), respident=RESPONSE)
    _add(window, "varlte", markup.number(high), respident=RESPONSE)


def _choices(presentation: Element, part: VariantPart, *, multiple: bool) -> None:
    options = _add(presentation, "response_lid", ident=RESPONSE, rcardinality="Multiple" if multiple else "Single")
    render = _add(options, "render_choice", shuffle="No")
    for index, option in enumerate(part.choices):
        label = _add(render, "response_label", ident=choice_ident(part, index))
        _material(label, markup.inline_html(option))


def _choice(presentation: Element, processing: Element, part: VariantPart, answer: str) -> None:
    _choices(presentation, part, multiple=False)
    _equal(_condition(processing, score=100), choice_ident(part, part.choices.index(answer)))


def _multi(presentation: Element, processing: Element, part: VariantPart, answer: tuple[str, ...]) -> None:
    _choices(presentation, part, multiple=True)
    right = set(answer)
    exact = _add(_condition(processing, score=100), "and")
    for index, option in enumerate(part.choices):
        target = exact if option in right else _add(exact, "not")
        _equal(target, choice_ident(part, index))
    if not right:
        return  # no option is right: picking none is the whole answer, and there is no partial credit
    share = 100 / len(right)
    for index, option in enumerate(part.choices):
        picked = _condition(processing, score=share if option in right else -share, action="Add", stop=False)
        _equal(picked, choice_ident(part, index))


def _essay(presentation: Element) -> None:
    blank = _add(presentation, "response_str", ident=RESPONSE, rcardinality="Single")
    _add(_add(blank, "render_fib"), "response_label", ident="answer1", rshuffle="No")


def part_prompt(card: ExportCard, part: VariantPart) -> str:
    """The card's prompt, then the part's question (and unit) in bold: what each item of the card shows."""
    label = markup.inline_html(part.label)
    unit = f" ({markup.inline_html(part.unit)})" if part.unit else ""
    return f"{markup.html(card.variant.prompt)}\n<p><strong>{label}</strong>{unit}</p>"


def feedback_html(card: ExportCard, part: VariantPart) -> str:
    """The general feedback of a part: its model answer (text parts), then the card's worked solution."""
    pieces = []
    model = card.variant.model_answers.get(part.key)
    if model:
        pieces.append(f"<p><strong>Model answer</strong></p>\n{markup.html(model)}")
    if card.variant.solution.strip():
        pieces.append(markup.html(card.variant.solution))
    return "\n".join(pieces)


def _item(section: Element, card: ExportCard, spec: PartSpec, part: VariantPart, *, solutions: bool) -> None:
    answer = card.variant.answers.get(part.key)
    item = _add(section, "item", ident=f"{card.slug}:{part.key}", title=f"{card.title} ({part.key})")
    kind = _QUESTION_TYPES[part.kind]
    if part.kind == "numeric" and markup.is_infinite(answer):
        kind = "short_answer_question"
    _metadata(_add(item, "itemmetadata"), {"question_type": kind, "points_possible": markup.number(spec.weight)})
    presentation = _add(item, "presentation")
    _material(presentation, part_prompt(card, part))
    processing = _add(item, "resprocessing")
    outcomes = _add(processing, "outcomes")
    _add(outcomes, "decvar", maxvalue="100", minvalue="0", varname="SCORE", vartype="Decimal")
    feedback = feedback_html(card, part) if solutions else ""
    if feedback:
        shown = SubElement(processing, "respcondition", {"continue": "Yes"})
        _add(_add(shown, "conditionvar"), "other")
        _add(shown, "displayfeedback", feedbacktype="Response", linkrefid=GENERAL_FEEDBACK)
    if part.kind == "numeric" and isinstance(answer, float):
        _numeric(presentation, processing, spec, answer)
    elif part.kind == "choice" and isinstance(answer, str):
        _choice(presentation, processing, part, answer)
    elif part.kind == "multi" and isinstance(answer, tuple):
        _multi(presentation, processing, part, answer)
    else:
        _essay(presentation)
    if feedback:
        block = _add(item, "itemfeedback", ident=GENERAL_FEEDBACK)
        _material(_add(block, "flow_mat"), feedback)


def render_qti(export: DeckExport) -> bytes:
    """The assessment XML (UTF-8): ``questestinterop/assessment/section/section/item``, a section per card."""
    root = Element(
        "questestinterop",
        {"xmlns": QTI_NAMESPACE, "xmlns:xsi": XSI, "xsi:schemaLocation": f"{QTI_NAMESPACE} {QTI_SCHEMA}"},
    )
    assessment = _add(root, "assessment", ident=assessment_ident(export), title=export.title)
    if export.max_attempts is not None:
        _metadata(assessment, {"cc_maxattempts": str(export.max_attempts)})
    top = _add(assessment, "section", ident="root_section")
    for card in export.cards:
        section = _add(top, "section", ident=card.slug, title=card.title)
        # Every item of the card is asked: an importer that reads sections as question groups picks them all.
        selection = _add(_add(section, "selection_ordering"), "selection")
        _add(selection, "selection_number", str(len(card.variant.parts)))
        for spec, part in zip(card.spec.parts, card.variant.parts, strict=True):
            _item(section, card, spec, part, solutions=export.show_solutions)
    indent(root)
    data: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def assessment_ident(export: DeckExport) -> str:
    return f"{export.slug}-seed-{export.seed}"


def assessment_filename(export: DeckExport) -> str:
    return f"{assessment_ident(export)}.xml"


def render_manifest(export: DeckExport) -> bytes:
    """``imsmanifest.xml``: one resource of type ``imsqti_xmlv1p2`` naming the assessment file."""
    filename = assessment_filename(export)
    root = Element("manifest", {"identifier": f"manifest-{assessment_ident(export)}", "xmlns": CP_NAMESPACE})
    metadata = _add(root, "metadata")
    _add(metadata, "schema", "IMS Content")
    _add(metadata, "schemaversion", "1.1.3")
    _add(root, "organizations")
    resources = _add(root, "resources")
    resource = _add(
        resources, "resource", identifier=f"resource-{assessment_ident(export)}", type="imsqti_xmlv1p2", href=filename
    )
    _add(resource, "file", href=filename)
    indent(root)
    data: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def qti_package(export: DeckExport) -> bytes:
    """The zip an LMS imports as a "QTI .zip file": ``imsmanifest.xml`` and the assessment beside it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as package:
        for name, content in (
            ("imsmanifest.xml", render_manifest(export)),
            (assessment_filename(export), render_qti(export)),
        ):
            package.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
