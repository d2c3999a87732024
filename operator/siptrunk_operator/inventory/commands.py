"""The `export`, `import-terraform` and `audit` subcommands (also `kubectl siptrunk ...`): arguments
and I/O. Failures print one `error:` line on stderr and exit 1; stdout carries only the result."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from siptrunk_operator.spec import DeletionPolicy

from .audit import audit
from .errors import InventoryError
from .listing import ApiTarget, fetch_trunks
from .manifests import ManifestOptions, TrunkRecord, build_manifests, records_from_listing, to_yaml, to_yaml_stream
from .progress import Progress
from .report import to_json, to_table
from .terraform import parse_state

NAMES = ("export", "import-terraform", "audit")
EXIT_ERROR = 1
AUDIT_EXIT_CODES = """\
exit codes:
  0   every trunk and object is managed
  1   the audit could not run (credentials, permission, location, cluster access)
  2   bad arguments
  otherwise the sum of the classes found (each needs attention):
  4   orphaned     a trunk no SipTrunk owns
  8   missing      a SipTrunk whose recorded trunk is gone, or that records none yet
  16  duplicated   several unowned trunks match one SipTrunk's spec
  32  conflicting  two SipTrunks claim one trunk
"""
Handler = Callable[[argparse.Namespace], int]


def _api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", required=True, help="Google Cloud project ID")
    parser.add_argument("--location", default="global", help="Dialogflow location (default: global)")
    parser.add_argument("--credentials", type=Path, metavar="FILE",
                        help="service-account key file (default: GOOGLE_APPLICATION_CREDENTIALS, else Application "
                             "Default Credentials)")
    parser.add_argument("--any-location", action="store_true",
                        help="do not check --location against the locations Dialogflow documents")


def _manifest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", help="set metadata.namespace (default: none; kubectl's namespace applies)")
    parser.add_argument("--output-dir", type=Path, metavar="DIR", help="one file per trunk instead of stdout")
    parser.add_argument("--observe-only", action="store_true", help="managementPolicy: ObserveOnly (never writes)")
    parser.add_argument("--deletion-policy", choices=[str(p) for p in DeletionPolicy],
                        help="deletionPolicy for every manifest; Abandon for a cautious migration")


def _quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display on stderr")


def _export(args: argparse.Namespace) -> int:
    trunks = fetch_trunks(_api_target(args), Progress.on_stderr(quiet=args.quiet))
    if not trunks:
        _warn(f"no trunks in projects/{args.project}/locations/{args.location}")
    return _emit(records_from_listing(trunks), args)


def _import_terraform(args: argparse.Namespace) -> int:
    state = parse_state(_read_json(args.state))
    for warning in state.warnings:
        _warn(warning)
    if not state.records:
        _warn(f"no google_dialogflow_sip_trunk instances in {args.state}")
    return _emit(list(state.records), args)


def _audit(args: argparse.Namespace) -> int:
    from .cluster import ClusterTarget, read_siptrunks  # the kubernetes client loads only for audit

    progress = Progress.on_stderr(quiet=args.quiet)
    trunks = fetch_trunks(_api_target(args), progress)
    bodies = read_siptrunks(ClusterTarget(args.kubeconfig, args.context), progress)
    report = audit(f"projects/{args.project}/locations/{args.location}", trunks, bodies)
    sys.stdout.write(json.dumps(to_json(report), indent=2) + "\n" if args.output == "json" else to_table(report))
    return report.exit_code


def _api_target(args: argparse.Namespace) -> ApiTarget:
    return ApiTarget(args.project, args.location, args.credentials, args.any_location)


def _emit(records: Sequence[TrunkRecord], args: argparse.Namespace) -> int:
    policy = DeletionPolicy(args.deletion_policy) if args.deletion_policy else None
    manifests = build_manifests(records, ManifestOptions(args.namespace, args.observe_only, policy))
    if args.output_dir is None:
        sys.stdout.write(to_yaml_stream(manifests))
        return 0
    progress = Progress.on_stderr(quiet=args.quiet)
    try:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        for done, manifest in enumerate(manifests, 1):
            (args.output_dir / f"{manifest.name}.yaml").write_text(to_yaml(manifest))
            progress.update(f"writing {args.output_dir}", done, len(manifests), unit="manifests")
    except OSError as err:
        raise InventoryError(f"cannot write to {args.output_dir}: {err.strerror or err}") from None
    finally:
        progress.finish()
    if not args.quiet:
        print(f"wrote {len(manifests)} manifests to {args.output_dir}", file=sys.stderr)
    return 0


def _read_json(path: str) -> object:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        return json.loads(text)
    except OSError as err:
        raise InventoryError(f"cannot read {path}: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InventoryError(f"{path} is not a JSON Terraform state ({err})") from None


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the three subcommands to a parser's subcommands (the `siptrunk-operator` CLI, the plugin)."""
    export = commands.add_parser(
        "export", help="print a SipTrunk manifest that adopts each existing trunk",
        description="List every trunk of one project and location and print one SipTrunk manifest per trunk "
                    "(multi-document YAML) with spec.resourceID set, so that applying it adopts the trunk.")
    _api_arguments(export)
    _manifest_arguments(export)
    _quiet_argument(export)
    export.set_defaults(inventory=_export)

    terraform = commands.add_parser(
        "import-terraform", help="SipTrunk manifests from a Terraform state",
        description="Read a Terraform state (the state file, format version 4, or `terraform show -json` output; "
                    "`-` reads stdin) and print one adopting SipTrunk manifest per google_dialogflow_sip_trunk "
                    "instance. Terraform's deletion_policy ABANDON or PREVENT becomes deletionPolicy: Abandon.")
    terraform.add_argument("state", help="terraform.tfstate, the output of `terraform show -json`, or -")
    _manifest_arguments(terraform)
    _quiet_argument(terraform)
    terraform.set_defaults(inventory=_import_terraform)

    audit = commands.add_parser(
        "audit", help="compare the API's trunks with the cluster's SipTrunk objects",
        description="Report every trunk of one project and location, and every SipTrunk object for it, as "
                    "managed, orphaned, missing, duplicated or conflicting.",
        epilog=AUDIT_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _api_arguments(audit)
    audit.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")
    audit.add_argument("--context", help="kubeconfig context (default: the current one)")
    audit.add_argument("-o", "--output", choices=("table", "json"), default="table")
    _quiet_argument(audit)
    audit.set_defaults(inventory=_audit)


def run(args: argparse.Namespace) -> int:
    """Run a parsed inventory subcommand: its exit code, or 1 after one line on stderr."""
    handler: Handler = args.inventory
    try:
        return handler(args)
    except InventoryError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def plugin_main(argv: Sequence[str] | None = None) -> int:
    """``kubectl siptrunk export|import-terraform|audit``: the `kubectl-siptrunk` entry point."""
    parser = argparse.ArgumentParser(prog="kubectl siptrunk", description="SipTrunk inventory: " + ", ".join(NAMES))
    register(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(plugin_main())
