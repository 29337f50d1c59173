"""A broker simulator in its own process, so it never competes with the bench for the bench's GIL.

The simulator runs in a spawned child (a fresh interpreter, no inherited threads); the bench
reaches its controls (`get`, `set`, `call`) over a pipe. Only the broker protocol itself
(the TWS socket, SnapTrade's HTTP) goes between the measured client and the simulator.

    with RemoteSimulator("ib_gateway", accounts=("DU1",)) as sim:
        sim.get("port"); sim.call("clear_received"); sim.get("received")
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

KINDS = {
    "ib_gateway": ("simulators.ib_gateway", "IBGatewaySimulator"),
    "snaptrade": ("simulators.snaptrade", "SnapTradeSimulator"),
}
TIMEOUT = 60.0


def _serve(kind: str, kwargs: dict[str, Any], conn: Connection) -> None:
    import importlib

    module, name = KINDS[kind]
    sim = getattr(importlib.import_module(module), name)(**kwargs)
    sim.start()
    try:
        conn.send(("ok", None))
        while True:
            request = conn.recv()
            if request is None:
                return
            op, attr, args, kw = request
            try:
                if op == "get":
                    result = getattr(sim, attr)
                elif op == "set":
                    setattr(sim, attr, args[0])
                    result = None
                else:
                    result = getattr(sim, attr)(*args, **kw)
                conn.send(("ok", result))
            except Exception as exc:  # reported to the caller, who raises it
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        (sim.close if hasattr(sim, "close") else sim.stop)()


class RemoteSimulator:
    def __init__(self, kind: str, **kwargs: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(kind, kwargs, child), name=f"bench-sim-{kind}",
                                       daemon=True)
        self.process.start()
        child.close()
        self._answer()

    def _answer(self) -> Any:
        if not self._conn.poll(TIMEOUT):
            raise TimeoutError("the simulator process did not answer")
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"simulator: {value}")
        return value

    def get(self, attr: str) -> Any:
        self._conn.send(("get", attr, (), {}))
        return self._answer()

    def set(self, attr: str, value: Any) -> None:
        self._conn.send(("set", attr, (value,), {}))
        self._answer()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self._conn.send(("call", method, args, kwargs))
        return self._answer()

    def cpu_seconds(self) -> float:
        """CPU time the simulator's process has used (user + system)."""
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self._conn.close()

    def __enter__(self) -> RemoteSimulator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
