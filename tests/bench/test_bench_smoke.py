"""Smoke-run the DB-bound bench figures: the counts must hold; timings are never asserted.

The bench creates its own throw-away database on the test database's server, so the
shared test database is left untouched.
"""

from __future__ import annotations

from typing import Any

from bench import DB_FIGURES, run_all
from bench.report import render


def test_quick_db_figures(database_url: str) -> None:
    result = run_all(quick=True, only=list(DB_FIGURES), database_url=database_url)

    assert set(result) == {"meta", "figures"}
    assert result["meta"]["mode"] == "quick"
    figures: dict[str, Any] = result["figures"]
    assert list(figures) == list(DB_FIGURES)
    for name, figure in figures.items():
        assert figure["measured"], (name, figure.get("reason"))
        assert figure["rows"], name
        for row in figure["rows"]:
            assert {"metric", "value", "baseline", "ratio"} <= set(row), (name, row)

    storm = figures["storm"]
    assert storm["broker_orders_placed_max"] == 1
    assert storm["broker_orders_placed_per_storm"] == [1] * storm["storms"]
    assert storm["order_rows_per_storm"] == [1] * storm["storms"]
    assert storm["callers_answered_min"] == storm["callers"] == 100
    assert storm["answers"] == {"ORDER": storm["storms"], "ALREADY_EXECUTED": 99 * storm["storms"]}

    throughput = figures["throughput"]
    assert [(level["callers"], level["accounts"]) for level in throughput["levels"]] == [
        (1, 16), (4, 16), (16, 16), (16, 1)]  # quick: no 64 callers (a shared server's connection limit)
    for level in throughput["levels"]:
        assert level["executes"] > 0 and level["executes_per_s"] > 0 and level["service_over_floor"] is not None
        assert level["commits_per_execute"] == 2 and level["statements_per_execute"] <= 6  # intent + outcome

    scale = figures["scale"]
    assert [level["rows"] for level in scale["levels"]] == [10_000]
    calls = scale["levels"][0]["calls"]
    assert calls["reconciliation scan"]["plan"]["uses_index"]
    assert calls["get_orders(account)"]["plan"]["uses_index"]

    render(result)  # the table renders without error


def test_cpu_figure_measures_this_process_and_the_local_server(database_url: str) -> None:
    """The test server runs on this machine, so its processes are visible and the PostgreSQL CPU is measured."""
    figure = run_all(quick=True, only=["cpu"], database_url=database_url)["figures"]["cpu"]
    assert figure["measured"] and figure["postgres_measured"], figure
    for call in ("preview", "execute"):
        for side in ("service", "floor", "own_sql"):
            used = figure[call][side]
            assert used["python_ms"] > 0 and used["postgres_ms"] > 0, (call, side, used)
            assert abs(used["total_ms"] - used["python_ms"] - used["postgres_ms"]) <= 0.02  # each rounded
    assert [row["metric"].split(":")[0] for row in figure["rows"]] == ["preview"] * 6 + ["execute"] * 6
    assert ["own SQL" in row["metric"] for row in figure["rows"]] == ([False] * 3 + [True] * 3) * 2


def test_latency_figure_splits_the_gap_at_the_modules_own_sql(database_url: str) -> None:
    """Service vs floor, and the same calls against the module's own statements alone, all counted alike."""
    figure = run_all(quick=True, only=["latency"], database_url=database_url)["figures"]["latency"]
    assert figure["measured"], figure
    for call in ("preview", "execute"):
        parts = figure["own_sql"][call]
        service, own_sql = parts["service_vs_own_sql"]["subject"], parts["service_vs_own_sql"]["baseline"]
        assert service == figure[call]["subject"] and parts["own_sql_vs_floor"]["subject"] == own_sql
        assert parts["own_sql_vs_floor"]["baseline"] == figure[call]["baseline"]
        assert service["count"] == own_sql["count"] == figure[call]["baseline"]["count"] == 100
        assert own_sql["p50_ms"] > 0
    assert len(figure["rows"]) == 8
