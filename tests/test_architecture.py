"""The house's rules, checked on every test run: data flows one way (the import-linter
contracts in pyproject.toml), each maintenance room uses only the rooms below it, no product
module imports the simulators or benchmarks, and nobody imports another module's private
names."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pilecare", "gateway", "ingest", "maintenance", "api", "simulators")
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def copy_of_the_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_import_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_a_maintenance_module_that_imports_the_api_breaks_the_one_way_contract(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    (tree / "maintenance" / "backwards.py").write_text('"""A module reaching back up."""\nimport api\n')
    result = lint(tree)
    assert result.returncode != 0
    assert "maintenance.backwards -> api" in result.stdout


def test_a_room_that_imports_a_room_above_it_breaks_the_rooms_contract(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    (tree / "maintenance" / "orders" / "upwards.py").write_text('"""Orders reaching up."""\nfrom maintenance import dispatch\n')
    result = lint(tree)
    assert result.returncode != 0
    assert "maintenance.orders.upwards -> maintenance.dispatch" in result.stdout


def test_a_router_that_imports_another_router_breaks_the_routes_contract(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    (tree / "api" / "routes" / "sideways.py").write_text('"""A router leaning on another."""\nfrom api.routes import piles\n')
    result = lint(tree)
    assert result.returncode != 0
    assert "api.routes.sideways -> api.routes.piles" in result.stdout


def private_imports(root: Path) -> list[str]:
    """`from x import _name` anywhere in the product packages, outside x itself."""
    found = []
    for path in sorted(p for package in PACKAGES for p in (root / package).rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module not in (None, "__future__"):
                found += [f"{path.relative_to(root)}: from {node.module} import {alias.name}"
                          for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_no_module_imports_another_modules_private_names(tmp_path):
    assert private_imports(ROOT) == []
    tree = copy_of_the_tree(tmp_path)
    (tree / "api" / "sneaky.py").write_text("from maintenance.orders.desk import _by_hand\n")
    assert private_imports(tree) == ["api/sneaky.py: from maintenance.orders.desk import _by_hand"]
