"""`siptrunk-operator run | emulator | dev | export | import-terraform | audit`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from siptrunk_operator.inventory import commands as inventory


def _run_operator(args: argparse.Namespace) -> int:
    import kopf

    from siptrunk_operator.logs import configure_logging

    configure_logging(verbose=args.verbose, text=args.log_format == "text")
    if args.leader_elect:
        os.environ["SIPTRUNK_LEADER_ELECTION"] = "true"
    if args.ops_address:
        os.environ["SIPTRUNK_OPS_ADDRESS"] = args.ops_address
    import siptrunk_operator.handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        standalone=True,
        clusterwide=not args.namespace,
        namespaces=args.namespace or (),
        liveness_endpoint=args.liveness,
    )
    return 0


def _run_emulator(argv: Sequence[str]) -> int:
    from siptrunk_operator.emulator.cli import main as emulator_main

    return emulator_main(list(argv))


def _run_dev(args: argparse.Namespace) -> int:
    from siptrunk_operator.sandbox import run_sandbox

    return run_sandbox(once=args.once, workdir=args.workdir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siptrunk-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    run.add_argument("-n", "--namespace", action="append", default=[],
                     help="watch only this namespace (repeatable); default: all namespaces")
    run.add_argument("--liveness", default=os.environ.get("SIPTRUNK_LIVENESS_URL"), metavar="URL",
                     help="serve kopf's liveness probe, e.g. http://0.0.0.0:8081/healthz")
    run.add_argument("--ops-address", default=None, metavar="HOST:PORT",
                     help="serve /metrics and /readyz, e.g. 0.0.0.0:8080 (or SIPTRUNK_OPS_ADDRESS)")
    run.add_argument("--leader-elect", action="store_true",
                     help="reconcile only while holding the Lease (SIPTRUNK_LEASE_*; or SIPTRUNK_LEADER_ELECTION=true)")
    run.add_argument("--log-format", choices=("json", "text"), default="json",
                     help="json lines (default) or text for humans")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    commands.add_parser("emulator", help="run the sipTrunks API emulator (see `emulator --help`)",
                        add_help=False)

    dev = commands.add_parser(
        "dev", help="local sandbox: control plane + emulator + operator + a sample trunk"
    )
    dev.add_argument("--once", action="store_true",
                     help="tear everything down after printing `kubectl get siptrunks`")
    dev.add_argument("--workdir", default=None, help="where to keep kubeconfig and logs (default: a temp dir)")
    inventory.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        return _run_emulator(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run_operator(args)
    if args.command in inventory.NAMES:
        return inventory.run(args)
    return _run_dev(args)


if __name__ == "__main__":
    sys.exit(main())
