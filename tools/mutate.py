#!/usr/bin/env python3
"""Small AST mutation testing for this repository (standard library only).

Each mutant changes one site of a module (a comparison or boolean operator, a condition, a constant,
a removed call statement, an arithmetic operator, optionally a returned value) by splicing the source
at the node's position, so line numbers stay put. Mutants run in private copies of the repository
(one per worker, made once): the real working tree is never written. A mutant is *killed* when the
tests fail (or time out) and *survives* when they pass.

    .venv/bin/python tools/mutate.py operator/siptrunk_operator/health.py=tests/unit/test_health.py --sample 40

Module and test paths are relative to --root (default: the repository holding this tool). The tool
reports; it gates only with --min-score. Exit codes: 0 report, 1 below --min-score, 2 set-up or
baseline failure.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import contextlib
import json
import math
import os
import queue
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALL_KINDS = ("compare", "boolean", "negate", "constant", "call", "arith", "return-none")
DEFAULT_KINDS = ("compare", "boolean", "negate", "constant", "call", "arith")

PRAGMA = re.compile(r"#\s*pragma:\s*no\s+mutate\b")
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical"})
DUNDER = re.compile(r"^__\w+__$")

# Comparison swaps: operator class -> (pattern of its token, replacement class, replacement token).
_COMPARE: dict[type[ast.cmpop], tuple[str, type[ast.cmpop], str]] = {
    ast.Eq: (r"==", ast.NotEq, "!="),
    ast.NotEq: (r"!=", ast.Eq, "=="),
    ast.Lt: (r"<", ast.GtE, ">="),
    ast.GtE: (r">=", ast.Lt, "<"),
    ast.Gt: (r">", ast.LtE, "<="),
    ast.LtE: (r"<=", ast.Gt, ">"),
    ast.In: (r"\bin\b", ast.NotIn, "not in"),
    ast.NotIn: (r"\bnot\s+in\b", ast.In, "in"),
    ast.Is: (r"\bis\b", ast.IsNot, "is not"),
    ast.IsNot: (r"\bis\s+not\b", ast.Is, "is"),
}
_BOOL: dict[type[ast.boolop], tuple[str, str]] = {ast.And: ("and", "or"), ast.Or: ("or", "and")}
_ARITH: dict[type[ast.operator], tuple[str, str]] = {
    ast.Add: (r"\+", "-"),
    ast.Sub: (r"-", "+"),
    ast.Mult: (r"\*", "/"),
    ast.Div: (r"/", "*"),
}
_OP_TOKEN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMMENT = re.compile(rb"#[^\r\n]*")

# Top-level entries of the repository never copied into a worker's tree.
_NOT_COPIED = frozenset({"build", "dist", "run"})
_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".mypy_cache",
                                      ".ruff_cache")


# --------------------------------------------------------------------------------------------------
# Mutants: enumeration and application (pure)


@dataclass(frozen=True)
class Edit:
    """Replace bytes [start, end) of the UTF-8 encoded source with text."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Mutant:
    path: str
    kind: str
    line: int
    col: int
    description: str
    original: str
    mutated: str
    edits: tuple[Edit, ...]

    @property
    def label(self) -> str:
        return f"{self.path}:{self.line}: {self.description} ({self.original} -> {self.mutated})"


def apply_edits(data: bytes, edits: Iterable[Edit]) -> bytes:
    """The bytes with the (non-overlapping) edits applied."""
    out = data
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        out = out[:edit.start] + edit.text.encode("utf-8") + out[edit.end:]
    return out


def apply_mutant(source: str, mutant: Mutant) -> str:
    return apply_edits(source.encode("utf-8"), mutant.edits).decode("utf-8")


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


class _Source:
    """Byte offsets for AST positions (col_offset counts UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8")
        self.line_starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.pragma_lines = frozenset(
            number for number, line in enumerate(self.data.splitlines(), start=1)
            if PRAGMA.search(line.decode("utf-8", "replace"))
        )

    def start(self, node: ast.AST) -> int:
        lineno: int = getattr(node, "lineno")  # noqa: B009 - every node passed here is an expr/stmt
        col: int = getattr(node, "col_offset")  # noqa: B009
        return self.line_starts[lineno - 1] + col

    def end(self, node: ast.AST) -> int:
        lineno: int | None = getattr(node, "end_lineno", None)
        col: int | None = getattr(node, "end_col_offset", None)
        if lineno is None or col is None:
            raise ValueError(f"{type(node).__name__} has no end position")
        return self.line_starts[lineno - 1] + col

    def text(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8")

    def node_text(self, node: ast.AST) -> str:
        return self.text(self.start(node), self.end(node))

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset)

    def lines_between(self, start: int, end: int) -> range:
        return range(self.line_of(start), self.line_of(max(start, end - 1)) + 1)

    def find_token(self, start: int, end: int, pattern: str) -> tuple[int, int] | None:
        """The single match of pattern in the gap [start, end) between two operands (comments blanked)."""
        gap = _COMMENT.sub(lambda m: b" " * len(m.group()), self.data[start:end])
        matches = list(re.finditer(pattern.encode(), gap))
        if len(matches) != 1:
            return None
        return start + matches[0].start(), start + matches[0].end()


def _is_log_target(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return "log" in node.id.lower()
    if isinstance(node, ast.Attribute):
        return "log" in node.attr.lower()
    return False


def is_logging_call(node: ast.AST) -> bool:
    """log.info(...), logger.warning(...), self.logger.error(...): not worth mutating."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in LOG_METHODS and _is_log_target(node.func.value))


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _is_cast(node: ast.Call) -> bool:
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "cast") or (
        isinstance(func, ast.Attribute) and func.attr == "cast" and isinstance(func.value, ast.Name)
        and func.value.id == "typing")


def _assigns_dunder(node: ast.stmt) -> bool:
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    return any(isinstance(t, ast.Name) and DUNDER.match(t.id) for t in targets)


def _is_string_expr(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _is_atomic(node: ast.expr) -> bool:
    """Binds tighter than `not`: needs no parentheses after it."""
    return isinstance(node, ast.Name | ast.Attribute | ast.Call | ast.Subscript | ast.Constant)


def _is_bare_string(node: ast.AST) -> bool:
    """A docstring, or any other string statement (attribute docstrings): documentation, not code."""
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


class _Collector:
    def __init__(self, source: _Source, path: str, kinds: frozenset[str]) -> None:
        self.src = source
        self.path = path
        self.kinds = kinds
        self.mutants: list[Mutant] = []

    # --- walking -----------------------------------------------------------------------------------

    def visit(self, node: ast.AST, in_function: bool = False) -> None:
        if self._skipped(node):
            return
        self._sites(node, in_function)
        for child, child_in_function in self._children(node, in_function):
            self.visit(child, child_in_function)

    def _skipped(self, node: ast.AST) -> bool:
        return (
            _is_bare_string(node)
            or isinstance(node, ast.Assert | ast.JoinedStr | ast.arg | ast.Import | ast.ImportFrom)
            or (isinstance(node, ast.stmt) and _assigns_dunder(node))
            or is_logging_call(node)
        )

    def _children(self, node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, bool]]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # The annotations (args, returns) are skipped; decorators and defaults are code.
            for decorator in node.decorator_list:
                yield decorator, in_function
            yield node.args, in_function
            for stmt in node.body:
                yield stmt, True
        elif isinstance(node, ast.ClassDef):
            for expr in [*node.decorator_list, *node.bases, *node.keywords]:
                yield expr, in_function
            for stmt in node.body:
                yield stmt, False
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                yield node.value, in_function
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.orelse:
                yield stmt, in_function
        elif isinstance(node, ast.Call) and _is_cast(node):
            for expr in [*node.args[1:], *node.keywords]:
                yield expr, in_function
        else:
            for child in ast.iter_child_nodes(node):
                yield child, in_function

    # --- sites -------------------------------------------------------------------------------------

    def _add(self, kind: str, anchor: ast.AST, description: str, edits: Sequence[Edit],
             context: ast.AST | None = None) -> None:
        if kind not in self.kinds or not edits:
            return
        lines = {line for e in edits for line in self.src.lines_between(e.start, e.end)}
        if lines & self.src.pragma_lines:
            return
        shown = context or anchor
        start = min(self.src.start(shown), *(e.start for e in edits))
        end = max(self.src.end(shown), *(e.end for e in edits))
        local = [Edit(e.start - start, e.end - start, e.text) for e in edits]
        region = self.src.data[start:end]
        self.mutants.append(Mutant(
            path=self.path, kind=kind, line=getattr(anchor, "lineno", 0), col=getattr(anchor, "col_offset", 0),
            description=description, original=_snippet(region.decode("utf-8")),
            mutated=_snippet(apply_edits(region, local).decode("utf-8")), edits=tuple(edits),
        ))

    def _sites(self, node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Compare):
            self._compare(node)
        elif isinstance(node, ast.BoolOp):
            self._boolean(node)
        elif isinstance(node, ast.BinOp):
            self._arith(node)
        elif isinstance(node, ast.Constant):
            self._constant(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            return
        elif isinstance(node, ast.If | ast.While | ast.IfExp):
            what = {ast.If: "if", ast.While: "while", ast.IfExp: "ternary"}[type(node)]
            self._negate(node.test, f"negate {what} condition")
        elif isinstance(node, ast.comprehension):
            for test in node.ifs:
                self._negate(test, "negate comprehension filter")
        elif isinstance(node, ast.Expr):
            self._removed_call(node)
        elif isinstance(node, ast.Return) and in_function:
            self._return_none(node)

    def _compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            pattern, _, replacement = _COMPARE[type(op)]
            found = self.src.find_token(self.src.end(operands[i]), self.src.start(operands[i + 1]), pattern)
            if found is None:
                continue
            original = self.src.text(*found)
            self._add("compare", node, f"swap {' '.join(original.split())} -> {replacement}",
                      [Edit(found[0], found[1], replacement)])

    def _boolean(self, node: ast.BoolOp) -> None:
        word, replacement = _BOOL[type(node.op)]
        edits: list[Edit] = []
        for left, right in zip(node.values, node.values[1:], strict=False):
            found = self.src.find_token(self.src.end(left), self.src.start(right), rf"\b{word}\b")
            if found is None:
                return
            edits.append(Edit(found[0], found[1], replacement))
        self._add("boolean", node, f"swap {word} -> {replacement}", edits)

    def _arith(self, node: ast.BinOp) -> None:
        spec = _ARITH.get(type(node.op))
        if spec is None:
            return
        if any(_is_string_expr(side) or isinstance(side, ast.List | ast.Tuple) for side in (node.left, node.right)):
            return  # string formatting / sequence concatenation, not arithmetic
        pattern, replacement = spec
        found = self.src.find_token(self.src.end(node.left), self.src.start(node.right), pattern)
        if found is not None:
            self._add("arith", node, f"swap {_OP_TOKEN[type(node.op)]} -> {replacement}",
                      [Edit(found[0], found[1], replacement)])

    def _constant(self, node: ast.Constant) -> None:
        value = node.value
        start, end = self.src.start(node), self.src.end(node)
        if isinstance(value, bool):
            self._add("constant", node, f"{value} -> {not value}", [Edit(start, end, str(not value))])
        elif isinstance(value, int):
            self._add("constant", node, f"{value} -> {value + 1}", [Edit(start, end, str(value + 1))])
        elif isinstance(value, float) and math.isfinite(value):
            new = value * 2 if value else value + 1
            self._add("constant", node, f"{value!r} -> {new!r}", [Edit(start, end, repr(new))])
        elif isinstance(value, str) and value:
            # Prepend a literal: implicit concatenation keeps the original text (and its line count).
            self._add("constant", node, f"string {_snippet(repr(value), 40)} -> {_snippet(repr('XX' + value), 40)}",
                      [Edit(start, start, "'XX' ")])

    def _negate(self, test: ast.expr, description: str) -> None:
        start, end = self.src.start(test), self.src.end(test)
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):  # `not x` -> `x`
            operand = self.src.node_text(test.operand)
            replacement = operand if _is_atomic(test.operand) else f"({operand})"
        else:
            text = self.src.text(start, end)
            replacement = f"not {text}" if _is_atomic(test) else f"not ({text})"
        self._add("negate", test, description, [Edit(start, end, replacement)])

    def _removed_call(self, node: ast.Expr) -> None:
        call = node.value.value if isinstance(node.value, ast.Await) else node.value
        if not isinstance(call, ast.Call) or is_logging_call(call):
            return
        start, end = self.src.start(node), self.src.end(node)
        newlines = self.src.line_of(max(start, end - 1)) - self.src.line_of(start)
        self._add("call", node, f"remove call {_snippet(self.src.node_text(call.func), 40)}(...)",
                  [Edit(start, end, "pass" + "\n" * newlines)])

    def _return_none(self, node: ast.Return) -> None:
        value = node.value
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            return
        start, end = self.src.start(value), self.src.end(value)
        newlines = self.src.line_of(max(start, end - 1)) - self.src.line_of(start)
        text = "None" if not newlines else "(None" + "\n" * newlines + ")"
        self._add("return-none", node, "return None", [Edit(start, end, text)], context=node)


def collect_mutants(source: str, path: str = "<string>", kinds: Iterable[str] = DEFAULT_KINDS) -> list[Mutant]:
    """Every mutation site of the source, in source order (not yet checked to parse)."""
    collector = _Collector(_Source(source), path, frozenset(kinds))
    collector.visit(ast.parse(source))
    return sorted(collector.mutants, key=lambda m: (m.line, m.col, m.edits[0].start, m.kind))


def enumerate_mutants(source: str, path: str = "<string>", kinds: Iterable[str] = DEFAULT_KINDS) -> list[Mutant]:
    """The mutants worth running: each one parses and changes the module's AST."""
    baseline = ast.dump(ast.parse(source))
    valid: list[Mutant] = []
    for mutant in collect_mutants(source, path, kinds):
        try:
            mutated = ast.parse(apply_mutant(source, mutant))
        except SyntaxError:
            continue
        if ast.dump(mutated) != baseline:
            valid.append(mutant)
    return valid


# --------------------------------------------------------------------------------------------------
# Running mutants in private copies of the repository


class SetupError(Exception):
    """The run cannot be trusted (bad paths, wrong package imported, failing baseline)."""


class _StoppedError(Exception):
    """The run was interrupted before this mutant started."""


@dataclass(frozen=True)
class Target:
    path: str  # relative to the root, POSIX
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    status: str  # killed | survived | timeout
    exit_code: int | None
    seconds: float
    output: str = ""


@dataclass(frozen=True)
class Result:
    mutant: Mutant
    outcome: Outcome


@dataclass
class Workspace:
    root: Path
    python: str
    extra_pytest_args: tuple[str, ...]
    _procs: set[subprocess.Popen[bytes]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The copy's package must win over the editable install's path (.pth files come later in sys.path).
        inherited = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(self.root / "operator") + (os.pathsep + inherited if inherited else "")
        # No bytecode: a mutant can have the source's size and mtime second, which would reuse a stale .pyc.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTEST_ADDOPTS", None)
        return env

    def run(self, argv: Sequence[str], timeout: float | None) -> Outcome:
        started = time.monotonic()
        proc = subprocess.Popen(list(argv), cwd=self.root, env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        with self._lock:
            self._procs.add(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, _ = proc.communicate()
            return Outcome("timeout", None, time.monotonic() - started, out.decode("utf-8", "replace"))
        finally:
            with self._lock:
                self._procs.discard(proc)
        status = "survived" if proc.returncode == 0 else "killed"
        return Outcome(status, proc.returncode, time.monotonic() - started, out.decode("utf-8", "replace"))

    def pytest(self, tests: Sequence[str], timeout: float | None) -> Outcome:
        return self.run([self.python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                         *self.extra_pytest_args, *tests], timeout)

    def kill_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill_group(proc)

    def check_imports(self, targets: Sequence[Target]) -> None:
        """Fail loudly unless each mutated module is imported from this copy (not the editable install)."""
        expected: dict[str, Path] = {}
        for target in targets:
            relative = Path(target.path).relative_to("operator")
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            expected[".".join(parts)] = (self.root / target.path).resolve()
        script = ("import importlib, json, sys\n"
                  "print(json.dumps({m: importlib.import_module(m).__file__ for m in sys.argv[1:]}))\n")
        outcome = self.run([self.python, "-c", script, *expected], timeout=120)
        if outcome.exit_code != 0:
            raise SetupError(f"cannot import the modules from the copy {self.root}:\n{outcome.output}")
        found: dict[str, str] = json.loads(outcome.output.strip().splitlines()[-1])
        for module, path in expected.items():
            actual = Path(found[module]).resolve()
            if actual != path:
                raise SetupError(f"{module} imports from {actual}, not from the copy {path}: "
                                 "the editable install shadows PYTHONPATH; refusing to run")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def copy_tree(source: Path, destination: Path) -> None:
    """The repository's top-level entries minus VCS, virtualenv, caches and build output."""
    for required in ("operator", "tests", "pyproject.toml"):
        if not (source / required).exists():
            raise SetupError(f"{source / required} is missing: is {source} the repository root?")
    destination.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        if entry.name.startswith(".") or entry.name in _NOT_COPIED or entry.name.endswith(".egg-info"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, destination / entry.name, ignore=_COPY_IGNORE, symlinks=True)
        elif entry.is_file():
            shutil.copy2(entry, destination / entry.name)


def parse_target(spec: str, default_tests: Sequence[str], root: Path) -> Target:
    module, sep, tests = spec.partition("=")
    test_paths = tuple(t for t in tests.split(",") if t) if sep else tuple(default_tests)
    if not test_paths:
        raise SetupError(f"{spec}: no tests given after '='")
    path = Path(module)
    absolute = (path if path.is_absolute() else root / path).resolve()
    try:
        relative = absolute.relative_to(root.resolve())
    except ValueError:
        raise SetupError(f"{module} is not inside the repository {root}") from None
    if relative.parts[:1] != ("operator",) or relative.suffix != ".py":
        raise SetupError(f"{module}: only Python modules under operator/ can be mutated")
    if not absolute.is_file():
        raise SetupError(f"{module}: no such file under {root}")
    return Target(relative.as_posix(), test_paths)


def run_mutants(mutants: Sequence[Mutant], sources: dict[str, str], tests: dict[str, tuple[str, ...]],
                workspaces: Sequence[Workspace], timeouts: dict[tuple[str, ...], float],
                progress: Callable[[int, Result], None]) -> list[Result]:
    """Each mutant in a free workspace: write the mutated module, run its tests, restore the module."""
    free: queue.Queue[Workspace] = queue.Queue()
    for workspace in workspaces:
        free.put(workspace)
    stop = threading.Event()

    def one(mutant: Mutant) -> Result:
        workspace = free.get()
        module = workspace.root / mutant.path
        try:
            if stop.is_set():
                raise _StoppedError
            module.write_bytes(apply_mutant(sources[mutant.path], mutant).encode("utf-8"))
            outcome = workspace.pytest(tests[mutant.path], timeouts[tests[mutant.path]])
        finally:
            module.write_bytes(sources[mutant.path].encode("utf-8"))
            free.put(workspace)
        return Result(mutant, outcome)

    results: list[Result] = []
    with ThreadPoolExecutor(max_workers=len(workspaces)) as pool:
        pending: set[Future[Result]] = {pool.submit(one, m) for m in mutants}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    results.append(future.result())
                    progress(len(results), results[-1])
        except BaseException:
            stop.set()
            for future in pending:
                future.cancel()
            for workspace in workspaces:
                workspace.kill_all()
            raise
    order = {id(m): i for i, m in enumerate(mutants)}
    return sorted(results, key=lambda r: order[id(r.mutant)])


# --------------------------------------------------------------------------------------------------
# Reporting


@dataclass
class Tally:
    name: str
    mutants: int = 0
    killed: int = 0
    timeout: int = 0
    survived: int = 0

    def add(self, outcome: Outcome) -> None:
        self.mutants += 1
        if outcome.status == "survived":
            self.survived += 1
        else:
            self.killed += 1
            self.timeout += int(outcome.status == "timeout")

    @property
    def score(self) -> float | None:
        return 100.0 * self.killed / self.mutants if self.mutants else None

    def as_json(self) -> dict[str, Any]:
        return {"module": self.name, "mutants": self.mutants, "killed": self.killed, "timeout": self.timeout,
                "survived": self.survived, "score": None if self.score is None else round(self.score, 1)}


def tally(results: Sequence[Result], modules: Sequence[str]) -> tuple[list[Tally], Tally]:
    per_module = {m: Tally(m) for m in modules}
    total = Tally("TOTAL")
    for result in results:
        per_module[result.mutant.path].add(result.outcome)
        total.add(result.outcome)
    return list(per_module.values()), total


def format_table(rows: Sequence[Tally], total: Tally) -> str:
    width = max(len(r.name) for r in [*rows, total])
    header = f"{'module':<{width}}  {'mutants':>7}  {'killed':>6}  {'timeout':>7}  {'survived':>8}  {'score':>6}"
    lines = [header, "-" * len(header)]
    for row in [*rows, total]:
        if row is total:
            lines.append("-" * len(header))
        score = "n/a" if row.score is None else f"{row.score:.1f}%"
        lines.append(f"{row.name:<{width}}  {row.mutants:>7}  {row.killed:>6}  {row.timeout:>7}  "
                     f"{row.survived:>8}  {score:>6}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mutate.py", description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="MODULE_PATH may be MODULE=TESTS[,TESTS...] to run only those tests for its mutants.\n"
               f"Kinds: {', '.join(ALL_KINDS)} (default: all but return-none).")
    parser.add_argument("modules", nargs="+", metavar="MODULE_PATH", help="module to mutate, or MODULE=TESTS")
    parser.add_argument("--tests", action="append", metavar="PATHS",
                        help="tests for modules without '=TESTS' (repeatable or comma-separated; default tests/unit)")
    parser.add_argument("--sample", type=int, metavar="N", help="run N mutants picked uniformly at random")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of --sample (default 0)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="per-mutant timeout (default: 3x the baseline run + 5s, at least 10s)")
    parser.add_argument("--jobs", "-j", type=int, default=2, metavar="J", help="parallel workers (default 2)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the report as JSON")
    parser.add_argument("--show-survivors", action="store_true", help="list every surviving mutant")
    parser.add_argument("--min-score", type=float, metavar="P", help="exit 1 when the total score is below P%%")
    parser.add_argument("--kinds", default=",".join(DEFAULT_KINDS),
                        help="comma-separated mutation kinds, or 'all'")
    parser.add_argument("--pytest-args", default="", metavar="ARGS",
                        help="extra pytest arguments (one shell-quoted string), e.g. --pytest-args='-k health'")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="repository root; module and test paths are relative to it (default: %(default)s)")
    parser.add_argument("--python", default=sys.executable, help="interpreter running pytest (default: this one)")
    parser.add_argument("--list", action="store_true", help="list the (sampled) mutants and exit without running")
    parser.add_argument("--verbose", "-v", action="store_true", help="print each mutant's outcome as it finishes")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be at least 1")
    kinds = ALL_KINDS if args.kinds == "all" else tuple(k for k in args.kinds.split(",") if k)
    unknown = sorted(set(kinds) - set(ALL_KINDS))
    if unknown or not kinds:
        parser.error(f"unknown --kinds {', '.join(unknown) or '(none)'}; choose from {', '.join(ALL_KINDS)}")
    args.kinds = kinds
    args.tests = [t for group in args.tests or ["tests/unit"] for t in group.split(",") if t]
    return args


def _say(message: str) -> None:
    sys.stdout.flush()
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root: Path = args.root.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="mutate-"))
    try:
        return _main(args, root, scratch)
    except SetupError as err:
        _say(f"mutate: {err}")
        return 2
    except KeyboardInterrupt:
        _say("mutate: interrupted")
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _main(args: argparse.Namespace, root: Path, scratch: Path) -> int:
    started = time.monotonic()
    targets = [parse_target(spec, args.tests, root) for spec in args.modules]
    if len({t.path for t in targets}) != len(targets):
        raise SetupError("a module is listed twice")

    # One snapshot of the tree (others may be editing it); the other workers copy the snapshot.
    first = scratch / "w0"
    copy_tree(root, first)
    for target in targets:
        for test in target.tests:
            if not (first / test).exists():
                raise SetupError(f"{test}: no such test path under {root}")
    sources = {t.path: (first / t.path).read_bytes().decode("utf-8") for t in targets}
    tests = {t.path: t.tests for t in targets}

    mutants: list[Mutant] = []
    for target in targets:
        try:
            mutants += enumerate_mutants(sources[target.path], target.path, args.kinds)
        except SyntaxError as err:
            raise SetupError(f"{target.path}: cannot parse: {err}") from None
    available = len(mutants)
    if args.sample is not None and args.sample < available:
        chosen = set(map(id, random.Random(args.seed).sample(mutants, args.sample)))
        mutants = [m for m in mutants if id(m) in chosen]
    sampled = f" (sample of {available}, seed {args.seed})" if len(mutants) < available else ""

    if args.list:
        for mutant in mutants:
            print(f"[{mutant.kind}] {mutant.label}")
        print(f"{len(mutants)} mutants{sampled}")
        return 0

    extra = tuple(shlex.split(args.pytest_args))
    jobs = max(1, min(args.jobs, len(mutants)))
    workspaces = [Workspace(first, args.python, extra)]
    for index in range(1, jobs):
        copy = scratch / f"w{index}"
        shutil.copytree(first, copy, symlinks=True)
        workspaces.append(Workspace(copy, args.python, extra))
    for workspace in workspaces:
        workspace.check_imports(targets)

    baselines: list[dict[str, Any]] = []
    timeouts: dict[tuple[str, ...], float] = {}
    for test_set in dict.fromkeys(tests.values()):
        outcome = workspaces[0].pytest(test_set, timeout=None)
        baselines.append({"tests": list(test_set), "seconds": round(outcome.seconds, 2),
                          "exit_code": outcome.exit_code})
        if outcome.exit_code != 0:
            tail = "\n".join(outcome.output.splitlines()[-30:])
            raise SetupError(f"baseline failed (exit {outcome.exit_code}): {' '.join(test_set)}\n{tail}\n"
                             "refusing to mutate against failing tests")
        timeouts[test_set] = args.timeout or max(10.0, 3 * outcome.seconds + 5)
        _say(f"baseline: {' '.join(test_set)} passed in {outcome.seconds:.1f}s "
             f"(mutant timeout {timeouts[test_set]:.0f}s)")

    _say(f"running {len(mutants)} mutants{sampled} with {len(workspaces)} workers")
    run_started = time.monotonic()

    def progress(done: int, result: Result) -> None:
        if args.verbose:
            _say(f"[{done}/{len(mutants)}] {result.outcome.status:<8} {result.outcome.seconds:5.1f}s "
                 f"{result.mutant.label}")

    results = run_mutants(mutants, sources, tests, workspaces, timeouts, progress)
    elapsed = time.monotonic() - run_started

    rows, total = tally(results, [t.path for t in targets])
    print(format_table(rows, total))
    busy = sum(r.outcome.seconds for r in results)
    if results:
        print(f"\n{len(results)} mutants{sampled} in {elapsed:.1f}s with {len(workspaces)} workers: "
              f"{elapsed / len(results):.2f}s per mutant (wall), {busy / len(results):.2f}s per pytest run")
    survivors = [r for r in results if r.outcome.status == "survived"]
    if args.show_survivors and survivors:
        print("\nSurviving mutants:")
        for result in survivors:
            print(result.mutant.label)

    if args.json is not None:
        report = {
            "modules": [{**r.as_json(), "tests": list(tests[r.name])} for r in rows],
            "total": total.as_json(),
            "available_mutants": available,
            "sample": args.sample,
            "seed": args.seed,
            "kinds": list(args.kinds),
            "jobs": len(workspaces),
            "baselines": baselines,
            "elapsed_seconds": round(elapsed, 2),
            "total_seconds": round(time.monotonic() - started, 2),
            "mutants": [
                {"path": r.mutant.path, "line": r.mutant.line, "col": r.mutant.col, "kind": r.mutant.kind,
                 "description": r.mutant.description, "original": r.mutant.original, "mutated": r.mutant.mutated,
                 "status": r.outcome.status, "exit_code": r.outcome.exit_code,
                 "seconds": round(r.outcome.seconds, 2)}
                for r in results
            ],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    if args.min_score is not None and total.score is not None and total.score < args.min_score:
        _say(f"mutate: score {total.score:.1f}% is below --min-score {args.min_score}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
