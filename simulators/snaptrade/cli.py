"""`python -m simulators.snaptrade --port N` (and `serve()` for `tradeexec sim snaptrade`)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from .server import SnapTradeSimulator


def serve(
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    client_id: str = "TRADEEXEC-TEST",
    consumer_key: str = "test-consumer-key",
    check_signatures: bool = True,
    check_timestamp: bool = True,
    seed: bool = True,
    out: Callable[[str], None] = print,
    ready: Callable[[SnapTradeSimulator], None] | None = None,
    stop_event: threading.Event | None = None,
) -> None:
    """Run a seeded simulator until Ctrl-C/SIGTERM (or stop_event), printing what to connect with.

    The printed values are the simulator's own demo credentials, not real secrets.
    """
    sim = SnapTradeSimulator(client_id, consumer_key, check_signatures, check_timestamp, host=host, port=port)
    sim.start()
    stop = stop_event or threading.Event()
    try:
        out(f"SnapTrade simulator listening on {sim.base_url}")
        out(f"SNAPTRADE_BASE_URL={sim.base_url}")
        out(f"SNAPTRADE_CLIENT_ID={client_id}")
        out(f"SNAPTRADE_CONSUMER_KEY={consumer_key}")
        if seed:
            demo = sim.seed_demo()
            out(f"SNAPTRADE_USER_ID={demo['user_id']}")
            out(f"SNAPTRADE_USER_SECRET={demo['user_secret']}")
            for name, acct in demo["accounts"].items():
                out(f"account {name}: {acct}")
            out("symbols: " + ", ".join(sorted(demo["symbols"])))
        if ready is not None:
            ready(sim)
        if threading.current_thread() is threading.main_thread():
            def _on_term(signum: int, frame: FrameType | None) -> None:
                stop.set()
            signal.signal(signal.SIGTERM, _on_term)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        sim.stop()
        out("SnapTrade simulator stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.snaptrade", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (keep 127.0.0.1)")
    parser.add_argument("--client-id", default="TRADEEXEC-TEST")
    parser.add_argument("--consumer-key", default="test-consumer-key")
    parser.add_argument("--no-signature-check", action="store_true")
    parser.add_argument("--no-timestamp-check", action="store_true")
    parser.add_argument("--no-seed", action="store_true", help="start empty (no demo user/accounts)")
    args = parser.parse_args(argv)

    def _print(line: str) -> None:
        print(line, flush=True)

    serve(
        args.port, args.host,
        client_id=args.client_id, consumer_key=args.consumer_key,
        check_signatures=not args.no_signature_check, check_timestamp=not args.no_timestamp_check,
        seed=not args.no_seed, out=_print,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
