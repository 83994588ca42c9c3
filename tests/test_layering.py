"""The package's layers import downwards only: model (pure data) <- engine (kernels) <- runtime <- the rest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[1] / "sdk" / "spikeforge"

# layer -> the spikeforge subpackages it must never import (even lazily, inside a function)
FORBIDDEN = {
    "model": ("engine", "runtime", "ipc", "bench", "cluster", "games", "train"),
    "engine": ("runtime", "ipc", "bench", "cluster", "games", "train"),
    "runtime": ("ipc", "bench", "cluster", "games", "train"),
}


def imported_subpackages(path: Path) -> set[str]:
    """The ``spikeforge.<sub>`` names a source file imports anywhere in its body."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "spikeforge" and len(parts) > 1:
                out.add(parts[1])
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    bad = []
    for path in sorted((SDK / layer).rglob("*.py")):
        wrong = imported_subpackages(path) & set(FORBIDDEN[layer])
        if wrong:
            bad.append(f"{path.relative_to(SDK)} imports spikeforge.{', spikeforge.'.join(sorted(wrong))}")
    assert not bad, "\n".join(bad)


def test_the_scan_sees_a_lazy_import(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from spikeforge.runtime.world import World\n    return World\n")
    assert imported_subpackages(f) == {"runtime"}
