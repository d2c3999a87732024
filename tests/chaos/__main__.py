"""`python -m tests.chaos [--long] [--scenario NAME ...] [--seed N]` (`make chaos`)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .environment import OPERATOR_ENV
from .options import ChaosOptions
from .runner import run
from .scenarios import SCENARIOS


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("--operator-env takes KEY=VALUE")
    return key, value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--long", action="store_true", help=">= 200 kill points, >= 50 while a create is in flight")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), metavar="NAME",
                        help=f"run only these (repeatable): {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=1, help="the random choices of every scenario (default 1)")
    parser.add_argument("--workdir", type=Path, help="keep every process's log there")
    parser.add_argument("--operator-env", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="an extra environment variable for the operator process (repeatable)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    options = ChaosOptions.long_run(args.seed) if args.long else ChaosOptions(seed=args.seed)
    names = [name for name in SCENARIOS if name in (args.scenario or SCENARIOS)]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds like Ctrl-C: everything is stopped
    try:
        return run(options, names, operator_env={**OPERATOR_ENV, **dict(args.operator_env)}, workdir=args.workdir)
    except KeyboardInterrupt:
        print("chaos: interrupted; every server and process was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
