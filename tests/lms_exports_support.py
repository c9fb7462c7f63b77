"""Reading exports back for the tests: a small GIFT parser and the QTI XML without its namespace.

Shared by the service and the API tests of deck exports (``from lms_exports_support import parse_gift``).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree

Token = tuple[str, bool]  # a character, and whether it was escaped


@dataclass(frozen=True)
class GiftAnswer:
    text: str
    weight: float  # 100 for `=`, 0 for `~`, or the `%n%` given


@dataclass(frozen=True)
class GiftQuestion:
    title: str
    text: str  # without the [html] marker, escapes undone
    kind: str  # numeric, choice, essay, short
    value: float | None = None
    margin: float | None = None
    answers: tuple[GiftAnswer, ...] = ()
    feedback: str = ""


@dataclass
class GiftFile:
    comments: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    questions: list[GiftQuestion] = field(default_factory=list)


def _tokens(text: str) -> list[Token]:
    found: list[Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            following = text[index + 1]
            found.append(("\n" if following == "n" else following, True))
            index += 2
        else:
            found.append((char, False))
            index += 1
    return found


def _plain(tokens: list[Token]) -> str:
    return "".join(char for char, _ in tokens)


def _find(tokens: list[Token], marker: str, start: int = 0) -> int:
    """Where the unescaped ``marker`` starts, or -1."""
    for index in range(start, len(tokens) - len(marker) + 1):
        if all(tokens[index + k] == (char, False) for k, char in enumerate(marker)):
            return index
    return -1


def _unescaped(tokens: list[Token]) -> set[str]:
    return {char for char, escaped in tokens if not escaped}


def _options(tokens: list[Token]) -> tuple[GiftAnswer, ...]:
    starts = [i for i, token in enumerate(tokens) if token in (("=", False), ("~", False))]
    answers = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(tokens)
        text = _plain(tokens[start + 1 : end]).strip()
        weight = 100.0 if tokens[start][0] == "=" else 0.0
        if text.startswith("%"):
            share, _, text = text[1:].partition("%")
            weight = float(share)
        answers.append(GiftAnswer(text=text, weight=weight))
    return tuple(answers)


def parse_question(line: str) -> GiftQuestion:
    tokens = _tokens(line)
    assert _find(tokens, "::") == 0, f"no title: {line[:80]}"
    title_end = _find(tokens, "::", 2)
    title = _plain(tokens[2:title_end])
    rest = tokens[title_end + 2 :]
    opening = _find(rest, "{")
    assert opening > 0 and rest[-1] == ("}", False), "the answers are not one {...} block at the end"
    text_tokens, block = rest[:opening], rest[opening + 1 : -1]
    assert not _unescaped(text_tokens) & set("{}~=#"), "a special character in the text is not escaped"
    assert "{" not in _unescaped(block) and "}" not in _unescaped(block), "a brace in the answers is not escaped"
    feedback = ""
    split = _find(block, "####")
    if split >= 0:
        feedback = _plain(block[split + 4 :])
        block = block[:split]
    text = _plain(text_tokens)
    assert text.startswith("[html]")
    text = text.removeprefix("[html]")
    if not block:
        return GiftQuestion(title=title, text=text, kind="essay", feedback=feedback)
    if block[0] == ("#", False):
        colon = _find(block, ":")
        value, margin = float(_plain(block[1:colon])), float(_plain(block[colon + 1 :]))
        return GiftQuestion(title=title, text=text, kind="numeric", value=value, margin=margin, feedback=feedback)
    answers = _options(block)
    kind = "short" if all(a.weight == 100 for a in answers) else "choice"
    return GiftQuestion(title=title, text=text, kind=kind, answers=answers, feedback=feedback)


def parse_gift(text: str) -> GiftFile:
    """Questions are separated by blank lines; ``//`` lines are comments; ``$CATEGORY:`` lines set a category."""
    parsed = GiftFile()
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("//"):
                parsed.comments.append(line[2:].strip())
            elif line.startswith("$CATEGORY:"):
                parsed.categories.append(line.removeprefix("$CATEGORY:").strip())
            elif line.strip():
                assert len([ln for ln in block.splitlines() if ln.strip() and not ln.startswith("//")]) == 1
                parsed.questions.append(parse_question(line))
    return parsed


# --- QTI ------------------------------------------------------------------------------------------------------


def qti_tree(xml: bytes) -> ElementTree.Element:
    """The parsed assessment with the QTI namespace taken off every tag, so paths read ``assessment/section``."""
    root = ElementTree.fromstring(xml)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def metadata(item: ElementTree.Element) -> dict[str, str]:
    return {
        field.findtext("fieldlabel", ""): field.findtext("fieldentry", "")
        for field in item.iterfind("itemmetadata/qtimetadata/qtimetadatafield")
    }


def unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        assert package.testzip() is None
        return {name: package.read(name) for name in package.namelist()}
