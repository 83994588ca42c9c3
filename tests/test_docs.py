"""The tutorial runs as written, and the guides it links to exist."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def test_tutorial_npc_learns_to_turn_toward_the_sound(capsys: object) -> None:
    scope: dict[str, object] = {}
    blocks = _python_blocks(DOCS / "tutorial.md")
    assert len(blocks) >= 5
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/tutorial.md[block {i}]", "exec"), scope)
    before, after = float(scope["before"]), float(scope["after"])  # type: ignore[arg-type]
    assert 0.3 < before < 0.65, f"an untrained guard should turn at random, got {before:.0%}"
    assert after >= before + 0.1, f"the guards did not learn: {before:.0%} -> {after:.0%}"
    w = np.asarray(scope["w"])
    # the learned map: left ears drive the left half more than right ears do (and vice versa)
    assert w[:4, :4].mean() > w[8:, :4].mean() and w[8:, 4:].mean() > w[:4, 4:].mean()
    again = scope["again"]
    assert again.step_count == scope["world"].step_count  # type: ignore[attr-defined]


def test_every_page_in_the_docs_folder_is_markdown_the_site_builds() -> None:
    # the site (docs/conf.py, `make docs`, warnings are errors) globs every top-level page
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    for needed in ("index.md", "concepts.md", "tutorial.md", "api.md", "semantics.md", "performance.md"):
        assert needed in pages
    for guide in ("godot4", "godot3", "unity", "c"):
        text = (DOCS / "engines" / f"{guide}.md").read_text(encoding="utf-8")
        included = re.search(r"```\{include\} (\S+)", text)
        assert included and (DOCS / "engines" / included.group(1)).resolve().is_file(), guide
