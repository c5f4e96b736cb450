"""The browser code (``book/_static/*.js``) keeps the book's style rule: a function past a screen
(60 lines, from its ``function`` line to its closing brace) is split where its parts have names.

No JavaScript parser is installed with the book, so the functions are found by a scan that
matches brackets and skips comments, strings, template literals (their ``${…}`` parts are
code) and regular expressions: a ``{`` opens a function's body after ``=>``, after the
parameters of ``function`` (named or not), or after a method's name and parameters. A module
wrapper (the file's IIFE, ``nnbookLayersModule``, the Worker's ``nnbookTrainWorkerModule``) is
the one exception: it declares at least ``WRAPPER_FUNCTIONS`` functions, and its own code,
outside the functions it holds, fits in a screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[1] / "book" / "_static"
SCREEN = 60  # lines
WRAPPER_FUNCTIONS = 3

#: After these a ``/`` begins a regular expression, not a division
REGEX_AFTER_WORDS = set("return typeof case in of new delete void throw else do".split())
#: A ``(…) {`` after these is a statement's head, not a method
STATEMENTS = set("if for while switch catch with function".split())
PUNCTUATION = re.compile(r"=>|\.\.\.|[{}()\[\];,.:?=/]|[^\s\w$'\"`/{}()\[\];,.:?=]+")
WORD = re.compile(r"[\w$]+")


@dataclass
class Token:
    kind: str  # "word", "punct" or "literal"
    text: str
    line: int


@dataclass
class Function:
    name: str
    start: int  # line of its `function`, its name or its parameters
    end: int  # line of its closing brace
    declaration: bool
    nested: list[Function] = field(default_factory=list)
    code_lines: set[int] = field(default_factory=set)  # lines with its own tokens on them

    @property
    def lines(self) -> int:
        return self.end - self.start + 1

    def own_lines(self) -> int:
        """Its lines of code (not blank, not only a comment) outside the functions it holds."""
        held = {line for inner in self.nested for line in range(inner.start, inner.end + 1)}
        return len(self.code_lines - held)

    def is_module_wrapper(self) -> bool:
        declared = sum(inner.declaration for inner in self.nested)
        return declared >= WRAPPER_FUNCTIONS and self.own_lines() <= SCREEN


def _quoted_end(source: str, at: int, quote: str) -> int:
    """The index just past the string that opens with ``source[at]``."""
    k = at + 1
    while source[k] != quote:
        k += 2 if source[k] == "\\" else 1
    return k + 1


def _regex_end(source: str, at: int) -> int:
    k, in_class = at + 1, False
    while in_class or source[k] != "/":
        if source[k] == "\\":
            k += 1
        elif source[k] in "[]":
            in_class = source[k] == "["
        k += 1
    return WORD.match(source, k + 1).end() if WORD.match(source, k + 1) else k + 1


def tokens(source: str) -> list[Token]:
    """The code's tokens, without comments; a string, a template literal's text or a regular
    expression is one ``literal`` token, a template's ``${…}`` parts are tokens of their own."""
    found: list[Token] = []
    braces: list[str] = []  # "{" for a block or an object, "${" for a template's code
    k, line = 0, 1

    def template_text(k: int) -> int:  # from inside a template to past its end or its "${"
        while source[k] != "`" and not source.startswith("${", k):
            k += 2 if source[k] == "\\" else 1
        if source[k] == "`":
            return k + 1
        braces.append("${")
        return k + 2

    while k < len(source):
        char = source[k]
        if char.isspace():
            end = k + 1
        elif source.startswith("//", k):
            end = source.find("\n", k) if "\n" in source[k:] else len(source)
        elif source.startswith("/*", k):
            end = source.index("*/", k) + 2
        elif char in "'\"":
            end = _quoted_end(source, k, char)
            found.append(Token("literal", source[k:end], line))
        elif char == "`":
            end = template_text(k + 1)
            found.append(Token("literal", source[k:end], line))
        elif char == "}" and braces and braces[-1] == "${":
            braces.pop()
            end = template_text(k + 1)
            found.append(Token("literal", source[k:end], line))
        elif char == "/" and _regex_may_start(found):
            end = _regex_end(source, k)
            found.append(Token("literal", source[k:end], line))
        elif WORD.match(source, k):
            end = WORD.match(source, k).end()
            found.append(Token("word", source[k:end], line))
        else:
            end = PUNCTUATION.match(source, k).end()
            text = source[k:end]
            if text == "{":
                braces.append("{")
            elif text == "}" and braces:
                braces.pop()
            found.append(Token("punct", text, line))
        line += source.count("\n", k, end)
        k = end
    return found


def _regex_may_start(found: list[Token]) -> bool:
    if not found:
        return True
    last = found[-1]
    if last.kind == "word":
        return last.text in REGEX_AFTER_WORDS
    return last.kind == "punct" and last.text not in {")", "]", "}"}


def _function_head(code: list[Token], at: int, opener: dict[int, int]) -> tuple | None:
    """If the ``{`` at ``code[at]`` opens a function's body: the index of the token its head
    starts with, its name, and whether it is a declaration."""
    before = code[at - 1] if at else None
    if before is None:
        return None
    if before.text == "=>":  # an arrow function: `x => {` or `(…) => {`
        start = opener.get(at - 2, at - 2)
        return start, _assigned_name(code, start), False
    if before.text != ")":
        return None
    paren = opener[at - 1]
    head = code[paren - 1] if paren else None
    if head is None:
        return None
    if head.text == "function":  # `function (…) {`
        return paren - 1, _assigned_name(code, paren - 1), False
    if head.kind != "word" or head.text in STATEMENTS:
        return None
    if paren >= 2 and code[paren - 2].text == "function":  # `function name(…) {`
        k = paren - 4 if paren >= 4 and code[paren - 3].text == "async" else paren - 3
        statement = k < 0 or code[k].text in {";", "{", "}"}
        return paren - 2, head.text, statement
    return paren - 1, head.text, False  # a method: `name(…) {`


def _assigned_name(code: list[Token], start: int) -> str:
    """The name an anonymous function is given: `name = …`, `object.name = …`, `name: …`."""
    k = start - 1
    if k >= 0 and code[k].text == "async":
        k -= 1
    if k >= 1 and code[k].text in {"=", ":"} and code[k - 1].kind == "word":
        name = code[k - 1].text
        if k >= 3 and code[k - 2].text == "." and code[k - 3].kind == "word":
            name = f"{code[k - 3].text}.{name}"
        return name
    return "(anonymous)"


def functions(source: str) -> list[Function]:
    """Every function with a block body in ``source``, each with the functions it holds."""
    code = tokens(source)
    opener: dict[int, int] = {}  # a closing bracket's index → its opening bracket's
    stack: list[tuple[int, Function | None]] = []
    found: list[Function] = []
    inside: list[Function] = []
    for at, token in enumerate(code):
        if inside:
            inside[-1].code_lines.add(token.line)
        if token.kind != "punct":
            continue
        if token.text in "({[":
            head = _function_head(code, at, opener) if token.text == "{" else None
            function = None
            if head is not None:
                start, name, declaration = head
                function = Function(name, code[start].line, token.line, declaration)
                (inside[-1].nested if inside else found).append(function)
                inside.append(function)
            stack.append((at, function))
        elif token.text in ")}]":
            opened, function = stack.pop()
            opener[at] = opened
            if function is not None:
                function.end = token.line
                inside.pop()
    assert not stack, "unbalanced brackets"
    return found


def _every(found: list[Function]):
    for function in found:
        yield function
        yield from _every(function.nested)


SCRIPTS = sorted(STATIC.glob("*.js"))


def test_there_is_browser_code():
    assert {"layers.js", "train.js", "digits.js"} <= {script.name for script in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_function_is_past_a_screen(script):
    found = list(_every(functions(script.read_text(encoding="utf-8"))))
    assert found, f"{script.name}: the scan found no function"
    long = [f for f in found if f.lines > SCREEN and not f.is_module_wrapper()]
    where = [f"{script.name}:{f.start} {f.name} ({f.lines} lines)" for f in long]
    assert not long, f"past a screen ({SCREEN} lines), to split into named parts: {where}"


def test_the_scan_finds_what_it_should():
    """The scan on a made-up script: every kind of function, none in a string, a template's
    text, a comment or a regular expression, and a long wrapper told from a long function."""
    body = "\n".join(f"    step({k});" for k in range(SCREEN))
    source = f"""
(function () {{
  // function commented() {{
  const text = "function quoted() {{";
  const other = `function templated() {{ ${{[1].map((x) => {{ return x; }})}} }}`;
  const pattern = /[{{]function regex() {{/g;
  function one() {{}}
  function two() {{}}
  const three = function () {{
{body}
  }};
  const object = {{ method(a) {{ if (a) {{ return a / 2; }} }}, arrow: async (b) => {{}} }};
  for (const x of []) {{}}
}})();
"""
    found = functions(source)
    assert [f.name for f in found] == ["(anonymous)"]
    wrapper = found[0]
    names = [f.name for f in _every(wrapper.nested)]
    assert names == ["(anonymous)", "one", "two", "three", "method", "arrow"]
    assert [f.declaration for f in wrapper.nested] == [False, True, True, False, False, False]
    three = wrapper.nested[3]
    assert three.lines == SCREEN + 2 and not three.is_module_wrapper()
    assert wrapper.lines > SCREEN and not wrapper.is_module_wrapper()  # two declarations only
    declared = functions(source.replace("const three = function ()", "function three()"))[0]
    assert declared.is_module_wrapper() and declared.nested[3].lines > SCREEN
