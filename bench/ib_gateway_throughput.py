"""How many order round trips (placeOrder -> orderStatus Filled) the IB Gateway simulator sustains.

The point is to show the simulator is never the bottleneck when the IBKR adapter is measured
against it. Orders go over ONE connection with a window of orders in flight; each is a
market order for AAPL (alternating BUY/SELL so the account stays flat) encoded byte-for-byte
by ib_async's own Client.placeOrder. The client first subscribes to positions, account
updates and account-updates-multi like ib_async's startup sync, so the simulator's account
pushes are part of the measured cost.

Clients: ``raw`` is a minimal socket client (so the figure is the simulator's), ``ib_async``
is an unmodified IB() with request throttling switched off (end to end, ib_async's decoding
included). ``sim_cpu_seconds`` is CPU time of the simulator thread (in-process) or process
(``subprocess=True``); ``round_trips_per_sim_cpu_second`` is the one-core capacity figure.

    python -m bench.ib_gateway_throughput --orders 20000 --window 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, cast

from ib_async import IB, MarketOrder, Stock
from ib_async.client import Client

from simulators.ib_gateway import IBGatewaySimulator
from simulators.ib_gateway.wire import frame, split_frames

AAPL_CON_ID = 265598
REPO = Path(__file__).resolve().parents[1]


def place_order_fields(server_version: int, order_id: int, action: str) -> list[str]:
    """The exact fields ib_async 2.1.0 sends for a qualified AAPL market order."""

    class _Silent:
        def __getattr__(self, _name: str) -> Any:
            return lambda *args: None

    client = Client(_Silent())
    client._serverVersion = server_version
    client.connState = Client.CONNECTED
    sent: list[str] = []
    client.sendMsg = sent.append  # type: ignore[method-assign,assignment]
    contract = Stock("AAPL", "SMART", "USD", conId=AAPL_CON_ID)
    client.placeOrder(order_id, contract, MarketOrder(action, 1, orderRef=f"bench-{order_id}"))
    return sent[0].split("\0")[:-1]


class RawClient:
    """Just enough of the TWS protocol to log on and pipeline orders."""

    def __init__(self, port: int, client_id: int = 1) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        version = b"v157..178"
        self.sock.sendall(b"API\0" + len(version).to_bytes(4, "big") + version)
        [[server_version, _]] = self.read_some(need=1)
        self.server_version = int(server_version)
        self.sock.sendall(frame(["71", "2", str(client_id), ""]))
        self.next_id = 0
        while not self.next_id:
            for fields in self.read_some():
                if fields[0] == "9":
                    self.next_id = int(fields[2])
        for request in (["61", "1"], ["6", "2", "1", ""], ["76", "1", "9000", "", "", "0"]):
            self.sock.sendall(frame(request))

    def read_some(self, need: int = 0) -> list[list[str]]:
        messages: list[list[str]] = []
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("simulator closed the connection")
            self.buffer += data
            messages += split_frames(self.buffer)
            if len(messages) >= max(need, 1):
                return messages

    def close(self) -> None:
        self.sock.close()


def _raw_round_trips(port: int, orders: int, window: int) -> dict[str, Any]:
    client = RawClient(port)
    template = {a: place_order_fields(client.server_version, 0, a) for a in ("BUY", "SELL")}
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    first_id = client.next_id
    next_index = 0
    received = 0

    def send(count: int) -> None:
        nonlocal next_index
        chunks = []
        for _ in range(count):
            if next_index >= orders:
                break
            order_id = first_id + next_index
            fields = template["BUY" if next_index % 2 == 0 else "SELL"].copy()
            fields[1] = str(order_id)
            fields[26] = f"bench-{order_id}"  # orderRef
            chunks.append(frame(fields))
            sent_at[order_id] = time.perf_counter()
            next_index += 1
        if chunks:
            client.sock.sendall(b"".join(chunks))

    started = time.perf_counter()
    send(window)
    while len(latencies) < orders:
        batch = client.read_some()
        received += len(batch)
        done = 0
        now = time.perf_counter()
        for fields in batch:
            if fields[0] == "3" and fields[2] == "Filled":
                latencies.append(now - sent_at.pop(int(fields[1])))
                done += 1
            elif fields[0] == "4" and fields[3] not in ("2104", "2106", "2158"):
                raise RuntimeError(f"simulator error: {fields}")
        send(done)
    elapsed = time.perf_counter() - started
    client.close()
    return {"elapsed": elapsed, "latencies": latencies, "messages_received": received}


async def _ib_async_round_trips(port: int, orders: int, window: int) -> dict[str, Any]:
    ib = IB()
    ib.client.MaxRequests = 0  # ib_async throttles to 45 requests/s by default
    await ib.connectAsync("127.0.0.1", port, clientId=2, timeout=10)
    contract = Stock("AAPL", "SMART", "USD", conId=AAPL_CON_ID)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    all_done: asyncio.Future[None] = loop.create_future()
    placed = 0

    def place_next() -> None:
        nonlocal placed
        if placed >= orders:
            return
        action = "BUY" if placed % 2 == 0 else "SELL"
        placed += 1
        trade = ib.placeOrder(contract, MarketOrder(action, 1))
        start = time.perf_counter()

        def filled(_trade: Any) -> None:
            latencies.append(time.perf_counter() - start)
            if len(latencies) == orders and not all_done.done():
                all_done.set_result(None)
            else:
                place_next()

        trade.filledEvent += filled

    started = time.perf_counter()
    for _ in range(min(window, orders)):
        place_next()
    await asyncio.wait_for(all_done, timeout=max(60.0, orders / 100))
    elapsed = time.perf_counter() - started
    ib.disconnect()
    return {"elapsed": elapsed, "latencies": latencies}


def _process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        parts = stat.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def run(
    orders: int = 10000,
    window: int = 200,
    server_version: int = 178,
    client: str = "raw",
    subprocess_sim: bool = False,
) -> dict[str, Any]:
    """Measure round trips; returns a JSON-ready dict of figures."""
    if client not in ("raw", "ib_async"):
        raise ValueError("client must be 'raw' or 'ib_async'")
    proc: subprocess.Popen[str] | None = None
    sim: IBGatewaySimulator | None = None
    if subprocess_sim:
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulators.ib_gateway", "--port", "0", "--server-version", str(server_version)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
        )
        line = cast(IO[str], proc.stdout).readline()
        port = int(line.split("127.0.0.1:")[1].split()[0])
        cpu_before = _process_cpu_seconds(proc.pid)
    else:
        sim = IBGatewaySimulator(server_version=server_version)
        sim.start()
        port = sim.port
        cpu_before = sim.cpu_time()
    try:
        if client == "raw":
            result = _raw_round_trips(port, orders, window)
        else:
            result = asyncio.run(_ib_async_round_trips(port, orders, window))
        cpu = (_process_cpu_seconds(proc.pid) if proc else sim.cpu_time() if sim else 0.0) - cpu_before
        placed = sim.placed_order_count if sim else None
    finally:
        if sim is not None:
            sim.close()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    latencies = sorted(result["latencies"])
    elapsed = result["elapsed"]
    return {
        "measured": True,
        "client": client,
        "simulator": "subprocess" if subprocess_sim else "in-process thread",
        "server_version": server_version,
        "orders": orders,
        "window": window,
        "elapsed_seconds": round(elapsed, 3),
        "round_trips_per_second": round(orders / elapsed, 1),
        "sim_cpu_seconds": round(cpu, 3),
        "round_trips_per_sim_cpu_second": round(orders / cpu, 1) if cpu > 0 else None,
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 3),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "orders_in_book": placed,
        "messages_received": result.get("messages_received"),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--server-version", type=int, default=178)
    parser.add_argument("--client", choices=("raw", "ib_async", "both"), default="both")
    parser.add_argument("--subprocess", action="store_true", help="run the simulator in its own process")
    args = parser.parse_args(argv)
    clients = ("raw", "ib_async") if args.client == "both" else (args.client,)
    results = [
        run(args.orders, args.window, args.server_version, c, subprocess_sim=args.subprocess) for c in clients
    ]
    print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
