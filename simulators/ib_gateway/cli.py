"""Command line entry: run the simulator in the foreground until interrupted.

Used as ``python -m simulators.ib_gateway`` now and by ``tradeexec sim ib-gateway`` later.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from decimal import Decimal
from types import FrameType

from .server import IBGatewaySimulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.ib_gateway", description="IB Gateway simulator (TWS API socket protocol)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4002, help="0 picks a free port (printed on start)")
    parser.add_argument("--server-version", type=int, default=178, help="157..178")
    parser.add_argument("--accounts", default="DU1234567", help="comma-separated paper account ids")
    parser.add_argument("--max-order-quantity", type=Decimal, default=Decimal("100000"))
    parser.add_argument("--starting-cash", type=Decimal, default=Decimal("1000000"))
    parser.add_argument("--order-preset-notice", choices=("before_ack", "after_ack"), default=None,
                        help="send error 10349 'Order TIF was set to DAY based on order preset' for every order")
    parser.add_argument("--inactive-before-submit", action="store_true",
                        help="report every order Inactive (no error) just before Submitted, as real gateways do")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    accounts = tuple(a.strip() for a in args.accounts.split(",") if a.strip())
    try:
        sim = IBGatewaySimulator(
            host=args.host, port=args.port, server_version=args.server_version, accounts=accounts,
            max_order_quantity=args.max_order_quantity, starting_cash=args.starting_cash,
        )
        sim.order_presets(args.order_preset_notice, inactive_first=args.inactive_before_submit)
        sim.start()
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(
        f"IB Gateway simulator listening on {sim.host}:{sim.port} "
        f"(server version {sim.server_version}, accounts {','.join(accounts)})",
        flush=True,
    )
    done.wait()
    sim.close()
    return 0
