"""Bad input on the command line: one line on stderr, exit code 2, no traceback, no work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], extra_path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    paths = [str(ROOT / "sdk"), str(ROOT)]
    if extra_path:
        paths.insert(0, extra_path)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.run([sys.executable, "-m", "spikeforge.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_export_of_a_corrupt_snapshot_is_one_line(tmp_path: Path, content: bytes) -> None:
    snap = tmp_path / "bad.snap"
    snap.write_bytes(content)
    r = _cli(["export", "--snapshot", str(snap), "-o", str(tmp_path / "out.sfb")])
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "bad.snap" in r.stderr and not (tmp_path / "out.sfb").exists()


def test_export_of_a_missing_snapshot_is_one_line(tmp_path: Path) -> None:
    r = _cli(["export", "--snapshot", str(tmp_path / "nope"), "-o", str(tmp_path / "out.sfb")])
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("cmd", "message"), [
    (["demo", "wanderers", "--seconds", "1000", "--plot", "x.png"], "--plot needs matplotlib"),
    (["demo", "foragers", "--plot", "x.png"], "--plot needs matplotlib"),
    (["demo", "--minutes", "1000"], "the pictures need matplotlib"),  # the default demo writes pictures
])
def test_plot_without_matplotlib_fails_before_the_run(tmp_path: Path, cmd: list[str], message: str) -> None:
    fake = tmp_path / "shadow"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('matplotlib hidden by the test')\n")
    r = _cli([str(tmp_path / a) if a.endswith(".png") else a for a in cmd], extra_path=str(fake))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
