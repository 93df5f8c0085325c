"""The documents' code, run, so it cannot go stale.

- Every ```python block of docs/tutorial.md runs, in order, in one namespace, against a real daemon;
  so does every ```python block of README.md. ``shmcall.connect()`` in a block attaches to the test
  daemon (``$SHMCALL_SOCKET`` points at it).
- Every ```rust block of docs/tutorial.md and README.md appears verbatim, modulo indentation, in a
  file under src/ or examples/: the documents quote real code, and a changed function fails this test.

Besides plain ``assert`` statements, a block's comments state results that are checked:

- ``print(...)  # text``: the print writes the line ``text`` (``...`` in it matches anything), and it
  does run.
- ``expression  # -> value``: the expression is evaluated and its ``repr`` is ``value``, or it equals
  ``value`` evaluated. ``value`` is the longest Python expression the comment starts with (so
  ``# -> 5; more words`` states 5).

A block right after a line ``<!-- not run -->`` is skipped (say in the document why).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO

TUTORIAL = REPO / "docs" / "tutorial.md"
README = REPO / "README.md"
NOT_RUN = "<!-- not run -->"


@dataclass
class Block:
    path: Path
    lang: str
    line: int  # of the block's first line of code, 1-based
    code: str
    skipped: bool

    @property
    def where(self) -> str:
        name = self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path
        return f"{name}:{self.line}"


def blocks(path: Path, lang: str) -> list[Block]:
    """The fenced code blocks of ``path`` in language ``lang``, dedented to their fence."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, kind, start = len(m.group(1)), m.group(2), i + 1
        j = start
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path.name}:{i + 1}: unclosed code fence")
        if kind == lang:
            before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            code = "\n".join(line[indent:] if not line[:indent].strip() else line for line in lines[start:j])
            found.append(Block(path, kind, start + 1, code + "\n", before == NOT_RUN))
        i = j + 1
    return found


# -- python blocks ------------------------------------------------------------------------------------


def _comments(code: str) -> dict[int, str]:
    """Line (1-based, in ``code``) -> the comment ending it."""
    return {tok.start[0]: tok.string for tok in tokenize.generate_tokens(io.StringIO(code).readline)
            if tok.type == tokenize.COMMENT}


def _stated_value(text: str) -> str | None:
    """The longest prefix of ``text`` that is a Python expression."""
    for end in range(len(text), 0, -1):
        candidate = text[:end].strip()
        if not candidate:
            break
        try:
            ast.parse(candidate, mode="eval")
        except SyntaxError:
            continue
        return candidate
    return None


class _Checks(ast.NodeTransformer):
    """Turns ``print(...)  # text`` and ``expr  # -> value`` statements into checked calls."""

    def __init__(self, block: Block) -> None:
        self.block = block
        self.comments = _comments(block.code)
        self.expected: dict[int, str] = {}  # markdown line -> what is stated there

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        comment = self.comments.get(node.end_lineno or node.lineno)
        if comment is None:
            return node
        line = self.block.line + (node.end_lineno or node.lineno) - 1
        value = node.value
        if comment.startswith("# ->"):
            stated = _stated_value(comment[len("# ->"):])
            assert stated is not None, f"{self.block.path.name}:{line}: no Python value after '# ->'"
            self.expected[line] = stated
            call = ast.Call(ast.Name("__doc_value__", ast.Load()), [ast.Constant(line), ast.Constant(stated), value], [])
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print":
            text = comment[1:].strip()
            self.expected[line] = text
            call = ast.Call(ast.Name("__doc_print__", ast.Load()), [ast.Constant(line), ast.Constant(text), *value.args],
                            value.keywords)
        else:
            return node
        return ast.copy_location(ast.Expr(ast.copy_location(call, value)), node)


class _Run:
    """One document's namespace and the checks of its stated results."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: set[int] = set()
        self.namespace: dict[str, Any] = {"__name__": "__doc__", "__doc_value__": self.value,
                                          "__doc_print__": self.print}

    def value(self, line: int, stated: str, actual: Any) -> None:
        self.seen.add(line)
        if repr(actual) == stated:
            return
        try:
            expected = eval(stated, dict(self.namespace))  # noqa: S307 - the document's own text
        except Exception:  # noqa: BLE001 - e.g. a repr naming a type the namespace lacks
            same = False
        else:
            same = actual == expected
            if not isinstance(same, bool):
                import numpy as np

                same = bool(np.all(same)) and np.shape(actual) == np.shape(expected)
        assert same, f"{self.path.name}:{line}: the document states {stated}, the code gives {actual!r}"

    def print(self, line: int, text: str, *args: Any, **kwargs: Any) -> None:
        self.seen.add(line)
        out = io.StringIO()
        print(*args, **{**kwargs, "file": out})
        printed = out.getvalue().rstrip("\n")
        pattern = ".*".join(re.escape(part) for part in text.split("..."))
        assert re.fullmatch(pattern, printed, re.DOTALL), \
            f"{self.path.name}:{line}: the document says it prints {text!r}, it prints {printed!r}"
        print(*args, **kwargs)

    def run(self, block: Block) -> None:
        checks = _Checks(block)
        tree = ast.fix_missing_locations(checks.visit(ast.parse(block.code, filename=block.where)))
        ast.increment_lineno(tree, block.line - 1)  # tracebacks name the document's own lines
        exec(compile(tree, str(block.path), "exec"), self.namespace)  # noqa: S102 - the document's code
        missed = sorted(set(checks.expected) - self.seen)
        assert not missed, f"{self.path.name}: the results stated on lines {missed} were never produced"


@pytest.fixture
def doc_env(daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """``shmcall.connect()`` in a document attaches to the test daemon; paths are the repository's."""
    monkeypatch.setenv("SHMCALL_SOCKET", daemon.socket)
    monkeypatch.chdir(REPO)


def run_document(path: Path) -> None:
    code = [b for b in blocks(path, "python") if not b.skipped]
    assert code, f"{path.name} has no python blocks to run"
    run = _Run(path)
    for block in code:
        run.run(block)


def test_tutorial_python_runs(doc_env: None) -> None:
    run_document(TUTORIAL)


def test_readme_python_runs(doc_env: None) -> None:
    run_document(README)


# -- rust blocks --------------------------------------------------------------------------------------


def _normalized(text: str) -> list[str]:
    return [line.strip() for line in text.strip("\n").splitlines()]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


@pytest.mark.parametrize("doc", [TUTORIAL, README], ids=lambda p: p.name)
def test_rust_is_quoted_from_the_sources(doc: Path) -> None:
    """The tutorial quotes the built-ins, README the custom-daemon example: a changed function fails."""
    files = sorted((REPO / "src").rglob("*.rs")) + sorted((REPO / "examples").rglob("*.rs"))
    sources = [_normalized(p.read_text(encoding="utf-8")) for p in files]
    quoted = blocks(doc, "rust")
    assert quoted, f"{doc.name} quotes no rust"
    stale = [b.where for b in quoted if not any(_contains(src, _normalized(b.code)) for src in sources)]
    assert not stale, f"rust blocks not found verbatim (modulo indentation) in src/ or examples/: {stale}"


def test_the_checks_catch_a_wrong_statement(tmp_path: Path) -> None:
    """A wrong stated result fails, and so does a stated print that never runs."""
    for body in ("assert 1 + 1 == 3\n", "1 + 1  # -> 3\n", "print(2)  # 3\n",
                 "try:\n    1 + 1\nexcept ValueError as e:\n    print(e)  # anything\n"):
        doc = tmp_path / "doc.md"
        doc.write_text(f"text\n\n```python\n{body}```\n")
        with pytest.raises(AssertionError):
            run_document(doc)
    doc.write_text("```python\nx = [1, 2]\nx  # -> [1, 2]; a list\nprint('a b', 3)  # a ... 3\n```\n\n"
                   f"{NOT_RUN}\n```python\nraise SystemExit\n```\n")
    run_document(doc)
