"""The code stays in shape: modules under 400 lines in the product packages, functions under 60 lines in
services/ and mcp_tools/ (issue 12). Read with `ast`, so every helper's work is held to the same limits.

A function's length runs from its first decorator to its last line, nested functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("api", "brokers", "db", "mcp_tools", "services", "telemetry", "webui", "simulators", "bench")
SHORT_FUNCTION_PACKAGES = ("services", "mcp_tools")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def product_modules() -> list[Path]:
    modules = [path for package in PRODUCT_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    return modules + sorted(ROOT.glob("cli*.py"))


def function_lengths(path: Path) -> list[tuple[str, int]]:
    """(qualified name, lines) of every function and method in the module."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                found.append((f"{prefix}{child.name}", (child.end_lineno or child.lineno) - first + 1))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(), filename=str(path)), "")
    return found


def test_the_packages_checked_are_there() -> None:
    modules = product_modules()
    assert all((ROOT / package / "__init__.py").exists() for package in ("api", "services", "mcp_tools", "brokers"))
    assert any(path.name == "cli.py" for path in modules) and len(modules) > 100


def test_no_product_module_is_over_400_lines() -> None:
    long = {str(path.relative_to(ROOT)): n for path in product_modules()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these into focused modules (limit {MAX_MODULE_LINES} lines): {long}"


def test_no_function_in_services_or_mcp_tools_is_over_60_lines() -> None:
    long = {f"{path.relative_to(ROOT)}:{name}": n
            for package in SHORT_FUNCTION_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            for name, n in function_lengths(path) if n > MAX_FUNCTION_LINES}
    assert long == {}, f"break these up (limit {MAX_FUNCTION_LINES} lines): {long}"


def test_the_measure_counts_decorators_and_nested_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    body = "\n".join(f"        x{i} = {i}" for i in range(60))
    sample.write_text(f"class A:\n    @staticmethod\n    def f():\n        def g():\n            pass\n{body}\n")
    assert dict(function_lengths(sample)) == {"A.f": 64, "A.f.g": 2}
