"""``siptrunk-operator emulator``: run the emulator until SIGTERM/SIGINT.

Prints ``siptrunk emulator listening on http://HOST:PORT`` on stdout once it accepts connections;
logs JSON lines on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from .config import EmulatorConfig
from .server import EmulatorServer

LISTENING = "siptrunk emulator listening on"


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        http = getattr(record, "http", None)
        if isinstance(http, dict):
            line.update(http)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _seconds_or_none(value: str) -> float | None:
    return None if value.lower() in {"none", "off", "never"} else float(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siptrunk-operator emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=8085, help="0 picks a free port (printed)")
    parser.add_argument("--mode", choices=["open", "iam"], default="open")
    parser.add_argument(
        "--connect-after",
        type=_seconds_or_none,
        default=2.0,
        metavar="SECONDS",
        help="delay before scripted connections appear; 'none' or negative disables them",
    )
    parser.add_argument("--require-peer-hostnames", action="store_true")
    parser.add_argument(
        "--quota-per-minute",
        type=int,
        metavar="N",
        help="at most N API requests per consumer project in any rolling minute, then 429 (default: no quota)",
    )
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="delay every API call by SECONDS")
    parser.add_argument(
        "--hold-writes",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="hold sipTrunks POST/PATCH/DELETE this long, then commit them even if the client has gone",
    )
    parser.add_argument(
        "--hold-writes-fraction",
        type=float,
        default=1.0,
        metavar="P",
        help="probability that a write is held (default 1: every write)",
    )
    parser.add_argument("--state-file", type=Path, help="keep trunks in this JSON file across restarts")
    parser.add_argument("--iam-config", type=Path, help="JSON/YAML file of identities (iam mode)")
    parser.add_argument("--log-level", default="INFO")
    return parser


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    server = EmulatorServer(config)
    url = await server.start(host, port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    print(f"{LISTENING} {url}", flush=True)
    try:
        await stopping.wait()
    finally:
        await server.stop()
        logging.getLogger("siptrunk_operator.emulator").info("emulator stopped")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler], force=True)
    try:
        config = EmulatorConfig(
            mode=args.mode,
            connect_after=args.connect_after,
            require_peer_hostnames=args.require_peer_hostnames,
            quota_per_minute=args.quota_per_minute,
            latency_seconds=args.latency,
            hold_writes_seconds=args.hold_writes,
            hold_writes_fraction=args.hold_writes_fraction,
            state_file=args.state_file,
            iam_config=args.iam_config,
        )
        asyncio.run(serve(config, args.host, args.port))
    except (OSError, ValueError) as exc:
        logging.getLogger("siptrunk_operator.emulator").error("emulator failed to start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
