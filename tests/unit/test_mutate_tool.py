"""tools/mutate.py: mutation sites, what is skipped, and the source splice (pure: no pytest subprocess)."""

from __future__ import annotations

import ast
import importlib.util
import random
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "mutate.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate_tool", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


mutate = _load()


def mutants(source: str, *kinds: str) -> list[Any]:
    return list(mutate.enumerate_mutants(textwrap.dedent(source), "m.py", kinds or mutate.ALL_KINDS))


def applied(source: str, mutant: Any) -> str:
    return str(mutate.apply_mutant(textwrap.dedent(source), mutant))


def only(source: str, *kinds: str) -> str:
    """The mutated source of the single mutant of those kinds."""
    found = mutants(source, *kinds)
    assert len(found) == 1, [m.label for m in found]
    return applied(source, found[0])


def run(source: str, name: str = "f", *args: object) -> object:
    namespace: dict[str, Any] = {}
    exec(compile(source, "m.py", "exec"), namespace)
    return namespace[name](*args)


@pytest.mark.parametrize(("op", "swapped"), [
    ("==", "!="), ("!=", "=="), ("<", ">="), (">=", "<"), (">", "<="), ("<=", ">"),
    ("in", "not in"), ("not in", "in"), ("is", "is not"), ("is not", "is"),
])
def test_comparison_operators_are_swapped(op: str, swapped: str) -> None:
    assert only(f"def f(a, b):\n    return a {op} b\n", "compare") == f"def f(a, b):\n    return a {swapped} b\n"


def test_chained_comparison_gives_one_mutant_per_operator_and_comments_are_not_operators() -> None:
    source = "ok = (lo  <  # was <= before\n      x <= hi)\n"
    found = mutants(source, "compare")
    assert [applied(source, m) for m in found] == [
        "ok = (lo  >=  # was <= before\n      x <= hi)\n",
        "ok = (lo  <  # was <= before\n      x > hi)\n",
    ]


def test_boolean_operator_swaps_every_operand_of_the_expression() -> None:
    found = mutants("ok = a and (b or c) and d\n", "boolean")
    assert [m.mutated for m in found] == ["a or (b or c) or d", "b and c"]
    found = mutants("ok = a and (b or c)\n", "boolean")
    assert sorted(applied("ok = a and (b or c)\n", m) for m in found) == ["ok = a and (b and c)\n",
                                                                         "ok = a or (b or c)\n"]


def test_conditions_are_negated_in_if_while_ternary_and_filters_but_not_assert() -> None:
    source = """
    def f(xs, flag, n):
        assert flag, "no flag"
        while n:
            n = n - 1
        if not flag:
            return [x for x in xs if x > n]
        return 1 if xs else 2
    """
    negated = {m.line: applied(source, m).splitlines()[m.line - 1].strip() for m in mutants(source, "negate")}
    assert negated == {
        4: "while not n:",
        6: "if flag:",
        7: "return [x for x in xs if not (x > n)]",
        8: "return 1 if not xs else 2",
    }
    assert all(m.line != 3 for m in mutants(source))  # nothing inside the assert


@pytest.mark.parametrize(("literal", "result"), [
    ("True", False), ("False", True), ("3", 4), ("-3", -4), ("0.5", 1.0), ("0.0", 1.0), ("'abc'", "XXabc"),
    ('("ab"\n        "cd")', "XXabcd"),
])
def test_constants_change(literal: str, result: object) -> None:
    source = f"def f():\n    return {literal}\n"
    mutated = only(source, "constant")
    assert run(mutated) == result
    assert mutated.count("\n") == source.count("\n")


def test_empty_strings_bytes_and_none_are_left_alone() -> None:
    assert mutants("a = ''\nb = b'xy'\nc = None\nd = ...\n", "constant") == []


def test_docstrings_dunder_assignments_and_annotations_are_skipped() -> None:
    source = '''
    """Module docstring."""
    __all__ = ["f"]
    LIMIT: Final[int] = 5
    """Attribute docstring."""

    class C:
        """Class docstring."""
        size: Literal["big"] = "small"

    def f(x: Annotated[int, "unit"] = 7, *, y: "Y" = 1) -> Literal["z"]:
        """Function docstring."""
        return cast("Literal['z']", x)
    '''
    assert sorted(m.description for m in mutants(source, "constant")) == [
        "1 -> 2", "5 -> 6", "7 -> 8", "string 'small' -> 'XXsmall'",
    ]


def test_fstring_literal_parts_are_skipped() -> None:
    assert mutants('s = f"{a!r} of {b:>4}: done"\n', "constant") == []
    assert mutants('s = "count: " + f"{n}"\n', "arith") == []


def test_type_checking_block_is_skipped_but_its_else_is_not() -> None:
    source = """
    if TYPE_CHECKING:
        X = 1
    else:
        X = 2
    if typing.TYPE_CHECKING:
        Y = 3
    """
    assert [m.description for m in mutants(source)] == ["2 -> 3"]


def test_logging_calls_are_skipped_other_calls_are_removed() -> None:
    source = """
    def f(events, outcome, log, logger, self):
        log.info("x %s", a == b)
        logger.warning("y")
        self.logger.exception("z")
        events.append(1)
        outcome.say("hi")
    """
    found = mutants(source, "call", "compare")
    assert [m.description for m in found] == ["remove call events.append(...)", "remove call outcome.say(...)"]
    assert applied(source, found[0]).splitlines()[5] == "    pass"


def test_pragma_no_mutate_skips_the_line() -> None:
    source = "a = x == 1  # pragma: no mutate\nb = x == 2\n"
    assert {m.line for m in mutants(source)} == {2}


def test_removed_call_keeps_line_numbers_and_await() -> None:
    source = """
    async def f(client):
        await client.patch(
            "x",
        )
        return client
    """
    mutated = only(source, "call")
    assert mutated.splitlines()[2] == "    pass"
    assert mutated.count("\n") == textwrap.dedent(source).count("\n")
    assert mutated.splitlines()[-1] == "    return client"


def test_return_none_is_an_optional_kind_for_functions_only() -> None:
    source = """
    def f(a):
        if a:
            return None
        return (
            a + 1
        )
    """
    assert all(m.kind != "return-none" for m in mutants(source, *mutate.DEFAULT_KINDS))
    mutated = only(source, "return-none")
    assert run(mutated, "f", 1) is None
    assert mutated.count("\n") == textwrap.dedent(source).count("\n")


@pytest.mark.parametrize(("op", "swapped"), [("+", "-"), ("-", "+"), ("*", "/"), ("/", "*")])
def test_arithmetic_operators_are_swapped(op: str, swapped: str) -> None:
    assert only(f"x = (a) {op} -b\n", "arith") == f"x = (a) {swapped} -b\n"


def test_string_and_sequence_concatenation_is_not_arithmetic() -> None:
    assert mutants("a = 'x' + s\nb = items + [1]\nc = n // 2\nd = n % 2\n", "arith") == []


def test_positions_are_bytes_so_non_ascii_text_before_a_site_is_fine() -> None:
    source = 'pair = ("→ état", a == b)\n'
    assert only(source, "compare") == 'pair = ("→ état", a != b)\n'


def test_report_line_shows_path_line_and_snippets() -> None:
    (found,) = mutants("def f(a):\n    return a  <  3\n", "compare")
    assert found.label == "m.py:2: swap < -> >= (a  <  3 -> a  >=  3)".replace("  ", " ")


SAMPLE = '''
"""A decision module in miniature."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
RETRIES = 3


def plan(trunk: dict[str, object], events: list[str], attempt: int = 0) -> str:
    """What to do next."""
    state = trunk.get("state") or "UNKNOWN"
    if state == "ACTIVE" and attempt < RETRIES:
        events.append(f"active after {attempt} attempts → ok")
        return "noop"
    while attempt <= RETRIES * 2:
        attempt = attempt + 1
    log.debug("state %s", state)
    ratio = 0.5 if state not in ("GONE", None) else 1.5
    return "create" if ratio / 2 > 0.2 else "wait"
'''


def _check_splice(source: str, found: list[Any]) -> None:
    original_lines = source.splitlines()
    baseline = ast.dump(ast.parse(source))
    for mutant in found:
        mutated = mutate.apply_mutant(source, mutant)
        tree = ast.parse(mutated)
        compile(tree, "m.py", "exec")
        assert ast.dump(tree) != baseline, mutant.label
        lines = mutated.splitlines()
        assert len(lines) == len(original_lines), mutant.label
        changed = [n for n, (a, b) in enumerate(zip(original_lines, lines, strict=True), start=1) if a != b]
        assert changed, mutant.label
        assert changed[0] == mutant.line or mutant.kind in {"call", "return-none"}, mutant.label
        assert changed[-1] - changed[0] < 3, mutant.label  # one site, not a rewrite of the module


def test_sample_module_mutants() -> None:
    source = SAMPLE.lstrip("\n")
    found = mutants(source)
    assert found == mutate.collect_mutants(source, "m.py", mutate.ALL_KINDS)  # none dropped as invalid
    _check_splice(source, found)
    kinds = {m.kind for m in found}
    assert kinds == set(mutate.ALL_KINDS)
    assert not [m for m in found if m.line in {1, 5, 7, 12, 19}]  # docstrings, import, logger, log.debug
    assert [m.line for m in found if m.kind == "call"] == [15]


def test_every_mutant_of_a_real_module_splices_cleanly() -> None:
    source = TOOL.read_text(encoding="utf-8")
    found = mutate.collect_mutants(source, "mutate.py", mutate.ALL_KINDS)  # raw sites: none filtered out
    assert len(found) > 500
    _check_splice(source, random.Random(0).sample(found, 25))


def test_parse_target_accepts_module_equals_tests(tmp_path: Path) -> None:
    module = tmp_path / "operator" / "pkg" / "health.py"
    module.parent.mkdir(parents=True)
    module.write_text("x = 1\n")
    target = mutate.parse_target("operator/pkg/health.py=tests/a.py,tests/b.py", ["tests/unit"], tmp_path)
    assert (target.path, target.tests) == ("operator/pkg/health.py", ("tests/a.py", "tests/b.py"))
    assert mutate.parse_target(str(module), ["tests/unit"], tmp_path).tests == ("tests/unit",)
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "x.py").write_text("")
    with pytest.raises(mutate.SetupError, match="only Python modules under operator/"):
        mutate.parse_target("tools/x.py", ["tests/unit"], tmp_path)
    with pytest.raises(mutate.SetupError, match="no such file"):
        mutate.parse_target("operator/pkg/missing.py", ["tests/unit"], tmp_path)


def test_workspace_environment_puts_the_copy_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = mutate.Workspace(tmp_path, sys.executable, ()).env()
    assert env["PYTHONPATH"].split(":") == [str(tmp_path / "operator"), "/elsewhere"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_copy_tree_leaves_out_vcs_venv_and_caches(tmp_path: Path) -> None:
    source, copy = tmp_path / "repo", tmp_path / "copy"
    for name in ["operator/pkg/__pycache__/a.pyc", "operator/pkg/a.py", "tests/t.py", ".git/HEAD", ".venv/x",
                 "crds/c.yaml", "pyproject.toml"]:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("")
    mutate.copy_tree(source, copy)
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == [
        "crds/c.yaml", "operator/pkg/a.py", "pyproject.toml", "tests/t.py",
    ]


def test_tally_and_table() -> None:
    (found,) = mutants("x = a == b\n", "compare")
    results = [mutate.Result(found, mutate.Outcome(status, 1, 0.1)) for status in ["killed", "timeout", "survived"]]
    rows, total = mutate.tally(results, ["m.py", "n.py"])
    assert (total.mutants, total.killed, total.timeout, total.survived) == (3, 2, 1, 1)
    assert rows[1].score is None
    table = mutate.format_table(rows, total)
    assert "66.7%" in table
    assert "n/a" in table


def test_cli_options() -> None:
    args = mutate.parse_args(["a.py", "b.py=tests/x.py", "--tests", "t1,t2", "--tests", "t3", "--kinds", "all"])
    assert args.tests == ["t1", "t2", "t3"]
    assert args.kinds == mutate.ALL_KINDS
    assert args.jobs == 2
    with pytest.raises(SystemExit):
        mutate.parse_args(["a.py", "--kinds", "bogus"])
