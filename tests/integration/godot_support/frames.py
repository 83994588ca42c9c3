"""The recorded protocol frames of the Godot 4 addon (``tests/frames`` beside its code).

``cases.json`` lists fixed inputs for ``SpikeforgeProtocol``; ``NN_name.hex`` is the frame
the encoder builds for case ``NN``. The Godot 4 encoder cannot run here (no Godot 4
binary), so the frames are produced by its Godot 3 twin running in real Godot 3 (the two
encoders are checked to be the same code modulo Godot 3/4 spelling), and checked against
PROTOCOL.md's hex examples and the Python reference codec.

Regenerate after changing the encoders or the cases::

    .venv/bin/python -m tests.integration.godot_support.frames --write
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.integration.godot_support.harness import (
    FRAMES_DIR,
    GODOT3_ADDON,
    REPO,
    errors_in,
    godot_env,
    timeout_prefix,
)

RUNNER = REPO / "tests" / "integration" / "godot3_codec" / "run_cases.gd"


def load_cases() -> list[dict[str, Any]]:
    """The cases of ``cases.json``, in order."""
    doc = json.loads((FRAMES_DIR / "cases.json").read_text(encoding="utf-8"))
    return list(doc["cases"])


def hex_path(index: int, name: str) -> Path:
    return FRAMES_DIR / f"{index:02d}_{name}.hex"


def recorded_frames() -> dict[str, bytes]:
    """{case name: frame bytes} from the committed ``.hex`` files."""
    out = {}
    for i, case in enumerate(load_cases()):
        text = hex_path(i, case["name"]).read_text(encoding="ascii")
        out[case["name"]] = bytes.fromhex("".join(text.split()))
    return out


def format_hex(data: bytes) -> str:
    h = data.hex()
    return "\n".join(h[i:i + 64] for i in range(0, len(h), 64)) + "\n"


def run_godot3_codec(godot: str, tmp: Path) -> dict[str, bytes]:
    """Run the Godot 3 addon's encoder on every case in real Godot 3; {name: frame bytes}."""
    project = tmp / "codec-project"
    (project / "addons").mkdir(parents=True)
    shutil.copytree(GODOT3_ADDON, project / "addons" / "spikeforge")
    shutil.copy(RUNNER, project / "run_cases.gd")
    (project / "project.godot").write_text(
        'config_version=4\n\n[application]\n\nconfig/name="codec"\n\n[debug]\n\n'
        "file_logging/enable_file_logging=false\n", encoding="utf-8")
    env = godot_env(tmp, {"SPIKEFORGE_CASES": str(FRAMES_DIR / "cases.json")})
    check = subprocess.run([*timeout_prefix(60), godot, "--path", str(project), "--check-only", "-s",
                            "run_cases.gd"], capture_output=True, text=True, timeout=70, env=env)
    if check.returncode != 0 or errors_in(check.stdout + check.stderr):
        raise RuntimeError(f"run_cases.gd does not parse:\n{check.stdout}\n{check.stderr}")
    proc = subprocess.run([*timeout_prefix(60), godot, "--path", str(project), "-s", "run_cases.gd"],
                          capture_output=True, text=True, timeout=70, env=env)
    out = proc.stdout + proc.stderr
    if errors_in(out) or "SPIKEFORGE_CODEC_DONE" not in proc.stdout:
        raise RuntimeError(f"the Godot 3 codec run failed (rc={proc.returncode}):\n{out[-4000:]}")
    frames = {}
    for line in proc.stdout.splitlines():
        if line.startswith("SPIKEFORGE_FRAME "):
            _, name, hexdata = [*line.split(" ", 2), ""][:3]
            frames[name] = bytes.fromhex(hexdata)
    return frames


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print(__doc__)
        return 2
    godot = shutil.which("godot3-server")
    if godot is None:
        print("godot3-server is not installed")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        frames = run_godot3_codec(godot, Path(tmp))
    for old in FRAMES_DIR.glob("*.hex"):
        old.unlink()
    for i, case in enumerate(load_cases()):
        hex_path(i, case["name"]).write_text(format_hex(frames[case["name"]]), encoding="ascii")
        print(f"wrote {hex_path(i, case['name']).relative_to(REPO)} ({len(frames[case['name']])} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
