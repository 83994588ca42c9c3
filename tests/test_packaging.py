"""spikeforge installs the way Python packages install.

``python -m build`` makes the sdist and then the wheel *from that sdist* (so a file missing
from the sdist breaks the wheel); the wheel goes into a fresh virtual environment with
nothing else of the repo, and the README Quickstart runs there, outside the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}"
    return proc.stdout


def _quickstart() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("```python") + len("```python")
    return text[start:text.index("```", start)]


def test_sdist_builds_a_wheel_that_installs_and_runs_the_quickstart(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)], cwd=tmp_path, timeout=900)
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, os.listdir(dist)

    from spikeforge import __version__

    with tarfile.open(sdists[0]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "CHANGELOG.md", "native/build_ext.py", "native/include/spikeforge.h",
                   "native/src/spikeforge_abi.h", "shaders/common.wgsl"):
        assert needed in names, f"sdist lacks {needed}"
    with zipfile.ZipFile(wheels[0]) as whl:
        wnames = set(whl.namelist())
        meta = whl.read(f"spikeforge-{__version__}.dist-info/METADATA").decode()
    assert "spikeforge/py.typed" in wnames
    assert any(n.startswith("spikeforge/engine/_native_ext") for n in wnames), "the wheel has no native extension"
    assert "spikeforge/shaders/common.wgsl" in wnames
    assert any(n.startswith("spikeforge/shaders/models/") for n in wnames), "per-model shaders missing"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wnames)
    for field in ("Version: " + __version__, "License-Expression: MIT", "Project-URL: Source", "Author: ",
                  "Requires-Python: >=3.11"):
        assert field in meta, f"wheel METADATA lacks {field!r}"

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheels[0])], cwd=tmp_path)
    elsewhere = tmp_path / "game"
    elsewhere.mkdir()
    script = elsewhere / "quickstart.py"
    script.write_text(_quickstart() + textwrap.dedent("""
        import spikeforge, pathlib
        assert "site-packages" in spikeforge.__file__, spikeforge.__file__
        assert world.stats()["backend"] == "native", world.stats()["backend"]
        assert (pathlib.Path(spikeforge.__file__).parent / "py.typed").exists()
        print("QUICKSTART-OK", world.step_count, float(abs(move[:]).sum()) > 0)
    """), encoding="utf-8")
    out = _run([str(py), str(script)], cwd=elsewhere)
    assert "QUICKSTART-OK 10000 True" in out, out
    version = _run([str(venv / "bin" / "spikeforge"), "--version"], cwd=elsewhere)
    assert version.strip() == f"spikeforge {__version__}"
