"""Handshake, startup sync, client ids and the connection-level controls."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ib_async import IB

from simulators.ib_gateway import IBGatewaySimulator

from .ibclient import connect, run, until

STARTUP_SYNC = [71, 61, 5, 99, 6, 76, 7]
REPO = Path(__file__).resolve().parents[2]


def test_connect_and_startup_sync_finish_without_timeouts(
    sim: IBGatewaySimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ib_async")

    async def main() -> None:
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=7, timeout=2, raiseSyncErrors=True)
        assert ib.isConnected()
        assert ib.client.serverVersion() == sim.server_version
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.client.getReqId() >= 1
        assert [v.value for v in ib.accountValues() if v.tag == "NetLiquidation" and v.currency == "USD"]
        ib.disconnect()

    run(main())
    # A missing end marker costs the whole 2 s timeout per request and logs "... timed out": none did.
    assert not [r for r in caplog.records if "timed out" in r.getMessage()]
    assert [msg_id for _, msg_id, _ in sim.received] == STARTUP_SYNC
    assert {client for client, _, _ in sim.received} == {7}


def test_several_accounts_and_client_ids_at_once() -> None:
    with IBGatewaySimulator(accounts=("DU111", "DU222", "DU333")) as sim:

        async def main() -> None:
            clients = [await connect(sim, client_id=cid, timeout=2, raiseSyncErrors=True) for cid in (1, 2, 0)]
            assert all(ib.isConnected() for ib in clients)
            assert clients[0].managedAccounts() == ["DU111", "DU222", "DU333"]
            assert sim.connected_client_ids == [0, 1, 2]
            now = await clients[1].reqCurrentTimeAsync()
            assert abs(now.timestamp() - time.time()) < 60
            for ib in clients:
                ib.disconnect()

        run(main())
        multi = [f for _, msg_id, f in sim.received if msg_id == 76]
        assert sorted(f[3] for f in multi) == ["DU111", "DU111", "DU111", "DU222", "DU222", "DU222",
                                               "DU333", "DU333", "DU333"]
        assert sim.connection_count == 3


def test_duplicate_client_id_gets_326_and_is_closed(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        first = await connect(sim_latest, client_id=5)
        second = IB()
        errors: list[int] = []
        second.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
        closed = asyncio.get_running_loop().create_future()
        second.client.apiError += lambda msg: closed.done() or closed.set_result(msg)
        # ib_async only notices the refusal through its apiStart timeout; the error and the
        # close arrive long before it.
        with pytest.raises((TimeoutError, asyncio.TimeoutError, ConnectionError)):
            await second.connectAsync("127.0.0.1", sim_latest.port, clientId=5, timeout=1)
        assert errors == [326]
        assert "already in use" in await closed
        assert first.isConnected()
        assert sim_latest.connected_client_ids == [5]
        first.disconnect()

    run(main())


def test_connection_reuse_is_visible_in_connection_count(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        for _ in range(5):
            await ib.reqCurrentTimeAsync()
        ib.disconnect()

    run(main())
    assert sim_latest.connection_count == 1
    assert [m for _, m, _ in sim_latest.received].count(49) == 5
    sim_latest.clear_received()
    assert sim_latest.received == []


def test_readonly_and_no_fetch_connects_still_sync(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest, client_id=3, timeout=2, readonly=True, raiseSyncErrors=True)
        assert ib.isConnected()
        ib.disconnect()

    run(main())
    assert [m for _, m, _ in sim_latest.received] == [71, 61, 6, 76, 7]


def test_refused_connections_fail_fast_and_recover(sim_latest: IBGatewaySimulator) -> None:
    sim_latest.refuse_connections = True

    async def main() -> None:
        with pytest.raises(ConnectionRefusedError):  # refused at once, not a TimeoutError after 5 s
            await IB().connectAsync("127.0.0.1", sim_latest.port, clientId=1, timeout=5)
        sim_latest.refuse_connections = False
        ib = await connect(sim_latest)
        ib.disconnect()

    run(main())


def test_cli_runs_the_simulator() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.ib_gateway", "--port", "0", "--server-version", "157",
         "--accounts", "DU1,DU2"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line, line
        port = int(line.split("127.0.0.1:")[1].split()[0])

        async def main() -> None:
            ib = IB()
            await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=5)
            assert ib.client.serverVersion() == 157
            assert ib.managedAccounts() == ["DU1", "DU2"]
            ib.disconnect()

        run(main())
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        IBGatewaySimulator(server_version=156)
    with pytest.raises(ValueError):
        IBGatewaySimulator(server_version=179)
    with pytest.raises(ValueError):
        IBGatewaySimulator(accounts=())


def test_until_helper_times_out_cleanly(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        with pytest.raises(AssertionError):
            await until(ib, lambda: False, timeout=0.2)
        ib.disconnect()

    run(main())
