"""The policy package is pure (STYLE.md): it imports no SDK and does no I/O of its own."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).parent.parent.parent / "src" / "opswarden" / "policy"
ALLOWED = {"pydantic", "yaml", "opswarden.core", "opswarden.errors", "opswarden.policy"}
IO_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "now", "utcnow", "getenv"}


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def allowed(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    return (top in sys.stdlib_module_names and top != "os") or any(
        module == a or module.startswith(f"{a}.") for a in ALLOWED
    )


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_policy_modules_import_no_sdk_and_do_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text())
    calls = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }

    assert sorted(m for m in imported(tree) if not allowed(m)) == []
    assert sorted(calls & IO_CALLS) == []
