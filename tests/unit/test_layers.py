"""Every test module carries the marker of its layer, so ``pytest -m <layer>`` selects the whole layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).parent.parent
LAYERS = ("unit", "functional", "integration", "conformance")


def module_markers(path: Path) -> set[str]:
    """The ``pytest.mark.<name>`` names assigned to the module's ``pytestmark`` (one or a list)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            found |= {ast.unparse(v).removeprefix("pytest.mark.") for v in values}
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_every_test_module_sets_its_layer_marker(layer: str) -> None:
    modules = sorted((TESTS / layer).glob("test_*.py"))
    assert modules, f"no test modules in tests/{layer}"

    unmarked = [m.name for m in modules if layer not in module_markers(m)]

    assert unmarked == [], f"add `pytestmark = pytest.mark.{layer}` to: {', '.join(unmarked)}"
