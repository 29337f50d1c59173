"""Deployment files: .env.example matches settings.py, docker-compose.yml passes `docker compose config`."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "TWS_USERID", "TWS_PASSWORD", "TZ", "MCP_PUBLISH_ADDRESS",
                "MCP_PUBLISHED_PORT", "IB_GATEWAY_PUBLISHED_PORT",
                "API_PUBLISH_ADDRESS", "API_PUBLISHED_PORT", "API_IBKR_CLIENT_ID"}
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def example_lines() -> list[tuple[str, str, bool]]:
    """(name, value, active) for every assignment in .env.example, commented out or not."""
    found = []
    for line in (REPO / ".env.example").read_text().splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2), not line.startswith("#")))
    return found


def test_env_example_lists_every_setting_and_nothing_unknown() -> None:
    names = {name for name, _value, _active in example_lines()}
    settings = {str(field.validation_alias) for field in Settings.model_fields.values()}
    assert settings - names == set(), "settings missing from .env.example"
    assert names - settings - COMPOSE_ONLY == set(), "unknown names in .env.example"


def test_env_example_active_values_are_valid_and_safe() -> None:
    active = {name: value for name, value, on in example_lines() if on}
    assert all(value != "" for value in active.values()), "an empty value is not 'unset'"
    settings = Settings(_env_file=None, **active)  # type: ignore[arg-type]
    assert settings.trading_mode.value == "paper" and settings.orders_enabled is False
    assert settings.trading_block_reason() is None


def test_dockerfile_copies_every_package_and_module() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    packages = [p.rstrip("*") for p in setuptools["packages"]["find"]["include"]]
    dockerfile = (REPO / "Dockerfile").read_text()
    for package in packages:
        assert f"COPY {package}/ {package}/" in dockerfile, package
    for module in setuptools["py-modules"]:
        assert f"{module}.py" in dockerfile, module


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")
def test_docker_compose_config_passes() -> None:
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if version.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=REPO, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rendered = subprocess.run(["docker", "compose", "config"], cwd=REPO, capture_output=True, text=True,
                              timeout=60, check=True).stdout
    assert "TRADING_MODE: paper" in rendered and 'ORDERS_ENABLED: "false"' in rendered
    assert "4004" in rendered and "ghcr.io/gnzsnz/ib-gateway" in rendered
