"""The Grafana dashboard only charts metric families the process actually exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import telemetry.metrics  # noqa: F401 - registers the collectors

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"


def test_every_dashboard_query_names_an_exported_metric() -> None:
    exported = set()
    for family in REGISTRY.collect():
        exported.add(family.name)
        exported.update(sample.name for sample in family.samples)
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len(panels) >= 6
    for panel in panels:
        for target in panel["targets"]:
            names = set(re.findall(r"tradeexec_[a-z_]+", target["expr"]))
            assert names, target["expr"]
            for name in names:
                base = re.sub(r"_(bucket|count|sum|total)$", "", name)
                assert name in exported or base in exported, name
