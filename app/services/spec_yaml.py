"""Card specs as text: YAML (or JSON) read with a line number for every problem, and specs written as YAML.

``parse_spec_text(text)`` gives the spec or raises ``InvalidSpec`` listing every problem, each with the line
it is on: a syntax error at the parser's mark, and a domain problem such as ``parts[1].answer`` at the line of
that node, found by composing the document (``yaml.compose``) and walking the field's path through it.
``spec_to_yaml(spec)`` writes a spec back in the spec model's key order, multi-line texts as block scalars.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import yaml

from app.domain.cards import CardSpec, SpecError, parse_spec, spec_to_dict

SpecMedia = Literal["yaml", "json"]

MAX_SPEC_BYTES: Final = 64 * 1024
MAX_NESTING: Final = 32  # mappings and lists inside each other; a card needs five or six levels
_PATH_STEP: Final = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_LONG_ITEM: Final = 60  # list items longer than this are written one per line rather than inline
# The fields of a tolerance and of the draws, whose mappings are written inline.
_INLINE_MAPPINGS: Final = frozenset(
    {"rtol", "atol", "dirichlet", "uniform", "choice", "logits", "scale", "decimals", "integer"}
)
# The C loader is quick and refuses absurd flow nesting itself; the pure one is there when libyaml is not.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class SpecProblem:
    """One problem of a spec text: the field (``parts[0].answer``; ``yaml`` for the syntax), its line, what."""

    field: str | None
    line: int | None  # 1-based; None when the problem has no place in the text
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.field or 'spec'}: {self.message}"


class InvalidSpec(ValueError):
    """A spec that cannot be saved; ``problems`` lists every problem found, each with its line where known."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class ParsedSpec:
    """A valid spec and the document it was read from, to place later problems (a taken slug) on a line."""

    spec: CardSpec
    root: yaml.Node | None

    def problem(self, field: str, message: str) -> SpecProblem:
        return SpecProblem(field, line_of(self.root, field), message)


# --- finding a field's line ---------------------------------------------------------------------------


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def line_of(root: yaml.Node | None, field: str) -> int | None:
    """The line of ``field`` (``parts[1].answer``) in a composed document; of its nearest ancestor if absent.

    A mapping entry is placed on its key's line (a block scalar's text starts on the line after).
    """
    if root is None:
        return None
    node, line = root, _line(root)
    for index, name in _PATH_STEP.findall(field):
        if index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            node = node.value[int(index)]
            line = _line(node)
        elif name and isinstance(node, yaml.MappingNode):
            entry = next((pair for pair in node.value if pair[0].value == name), None)
            if entry is None:
                break
            line, node = _line(entry[0]), entry[1]
        else:
            break
    return line


def _children(node: yaml.Node, path: str) -> Iterator[tuple[str, int, yaml.Node]]:
    """Each child of ``node`` with its path and the line it sits on."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            yield (f"{path}.{name}" if path else name), _line(key), value
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield f"{path}[{i}]", _line(item), item


def _structure_problems(root: yaml.Node) -> list[SpecProblem]:
    """What the parser accepts but a spec must not have: repeated keys, aliases, deep nesting."""
    problems: list[SpecProblem] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str, int]] = [(root, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_NESTING:
            problems.append(SpecProblem(path or "spec", _line(node), f"is nested more than {MAX_NESTING} levels deep"))
            continue
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in keys:
                    name = f"{path}.{key.value}" if path else str(key.value)
                    problems.append(
                        SpecProblem(name, _line(key), "is given twice; the later one would silently replace the first")
                    )
                keys.add(str(key.value) if isinstance(key, yaml.ScalarNode) else "")
        for child_path, line, child in _children(node, path):
            # An alias (*name) is the same node again: unfolding nested aliases can grow a small file
            # into billions of values, and a card has no need for them.
            if not isinstance(child, yaml.ScalarNode) and id(child) in seen:
                problems.append(
                    SpecProblem(child_path, line, "repeats an anchored value (*alias); write the value out instead")
                )
                continue
            seen.add(id(child))
            stack.append((child, child_path, depth + 1))
    return sorted(problems, key=lambda p: (p.line or 0, p.field or ""))


# --- reading ------------------------------------------------------------------------------------------


def _syntax_problem(exc: yaml.YAMLError) -> SpecProblem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"not valid YAML: {problem}" + (f" ({context})" if context else "")
    return SpecProblem("yaml", None if mark is None else int(mark.line) + 1, message)


def size_problem(size: int) -> SpecProblem | None:
    if size <= MAX_SPEC_BYTES:
        return None
    return SpecProblem(
        "spec", None, f"is {size:,} bytes long; a card spec may be at most {MAX_SPEC_BYTES:,} bytes (64 KB)"
    )


def _compose(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree and its data; raises yaml.YAMLError or RecursionError."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return root, (None if root is None else loader.construct_document(root))
    finally:
        loader.dispose()


def _nesting_depth(data: Any) -> int:
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:
            items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
            stack.extend((item, depth + 1) for item in items)
    return deepest


def _read_json(text: str) -> tuple[yaml.Node | None, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSpec([SpecProblem("json", exc.lineno, f"not valid JSON: {exc.msg}")]) from None
    except RecursionError:
        raise InvalidSpec([SpecProblem("json", None, f"is nested more than {MAX_NESTING} levels deep")]) from None
    if _nesting_depth(data) > MAX_NESTING:
        raise InvalidSpec([SpecProblem("spec", None, f"is nested more than {MAX_NESTING} levels deep")])
    # JSON is (nearly) YAML, so the same tree gives lines; the values come from the JSON parser, which reads
    # numbers such as 1e5 as JSON does. A document YAML cannot read simply goes without line numbers.
    try:
        root, _ = _compose(text)
    except (yaml.YAMLError, RecursionError):
        root = None
    return root, data


def read_spec_text(text: str, *, media: SpecMedia = "yaml") -> tuple[Any, yaml.Node | None]:
    """The data in a spec text and its node tree; raises InvalidSpec for a text that is not a usable document."""
    size = size_problem(len(text.encode("utf-8")))
    if size is not None:
        raise InvalidSpec([size])
    if media == "json":
        root, data = _read_json(text)
    else:
        try:
            root, data = _compose(text)
        except yaml.YAMLError as exc:
            raise InvalidSpec([_syntax_problem(exc)]) from None
        except RecursionError:
            raise InvalidSpec([SpecProblem("yaml", None, f"is nested more than {MAX_NESTING} levels deep")]) from None
    if root is not None:
        problems = _structure_problems(root)
        if problems:
            raise InvalidSpec(problems)
    return data, root


def _validated(data: Any, root: yaml.Node | None) -> ParsedSpec:
    if not isinstance(data, Mapping):
        found = "nothing" if data is None else "a list" if isinstance(data, list) else "a single value"
        message = f"must be a mapping with slug, title, params, prompt and parts; found {found}"
        raise InvalidSpec([SpecProblem("spec", line_of(root, "spec"), message)])
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        problems = [SpecProblem(p.field, line_of(root, p.field), p.message) for p in exc.problems]
        # In the order of the text, so an editor can go through them from the top; unplaced ones last.
        raise InvalidSpec(sorted(problems, key=lambda p: p.line if p.line is not None else 1 << 30)) from None
    return ParsedSpec(spec=spec, root=root)


def parse_spec_text(text: str, *, media: SpecMedia = "yaml") -> ParsedSpec:
    """Read and validate a spec written as YAML (or JSON); InvalidSpec lists every problem with its line."""
    data, root = read_spec_text(text, media=media)
    return _validated(data, root)


def parse_spec_data(data: Mapping[str, Any]) -> ParsedSpec:
    """Validate a spec already read (built by a form, say), under the same limits as a text."""
    try:
        text = dump_yaml(data)
    except (yaml.YAMLError, RecursionError, TypeError, ValueError):
        raise InvalidSpec([SpecProblem("spec", None, "holds values a card spec cannot have")]) from None
    size = size_problem(len(text.encode("utf-8")))
    if size is not None:
        raise InvalidSpec([size])
    return _validated(data, None)


# --- writing ------------------------------------------------------------------------------------------


class _SpecDumper(yaml.SafeDumper):
    """Readable card YAML: multi-line texts as ``|`` blocks, short lists of values inline, lists indented."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # PyYAML puts a list under a key at the key's own indentation; the bank's files indent it.
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Only a request: the emitter falls back to a quoted string where a block cannot hold the text
    # exactly (trailing spaces on a line, say), so the round trip stays exact.
    # An expression that starts with a quoted option reads better in double quotes than with doubled ones.
    style = "|" if "\n" in value else '"' if value.startswith("'") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _inline(value: Any) -> bool:
    if isinstance(value, Mapping | list | tuple):
        return False
    return not (isinstance(value, str) and ("\n" in value or len(value) > _LONG_ITEM))


def _represent_mapping(dumper: yaml.SafeDumper, value: Mapping[Any, Any]) -> yaml.MappingNode:
    # A tolerance or a draw such as {dirichlet: [8, 1, 1], decimals: 2} reads best on one line.
    flow = set(value) <= _INLINE_MAPPINGS and all(
        _inline(v) or (isinstance(v, list | tuple) and all(map(_inline, v))) for v in value.values()
    )
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any] | tuple[Any, ...]) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=all(map(_inline, value)))


_SpecDumper.add_representer(str, _represent_str)
_SpecDumper.add_representer(dict, _represent_mapping)
_SpecDumper.add_representer(list, _represent_list)
_SpecDumper.add_representer(tuple, _represent_list)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """Spec data as readable YAML, keys in the order given."""
    return yaml.dump(dict(data), Dumper=_SpecDumper, sort_keys=False, allow_unicode=True, width=100)


def spec_to_yaml(spec: CardSpec) -> str:
    """The spec as a YAML file, in the spec model's key order; reading it back gives the same spec."""
    data = spec_to_dict(spec)
    if not data["constraints"]:
        del data["constraints"]  # an empty list says nothing; leaving it out reads back the same
    return dump_yaml(data)
