"""Unity adapter, components: a COMPILE CHECK plus a stub-driven run, NOT a Unity run.

No Unity Editor can run on this machine. The package's ``Runtime/Components`` are compiled
with Mono's ``mcs`` against the minimal UnityEngine stub kept in the package
(``Tests/UnityEngineStub/UnityEngine.cs``, clearly labelled there), and a hand-written game
loop (``Tests/Mono/ComponentsTest.cs``) drives them against a real ``spikeforge serve``:
batched spawn, one exchange per step for all agents, sensors, movement, spike events,
rewards, the re-entrancy guard, despawn, organ-spec validation, the Foragers sample's game
script, and the StartServer mode with recovery after its server is killed.

Without Mono these tests skip locally and FAIL under CI=true.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spikeforge.bench.unity import (
    PACKAGE_DIR,
    REPO_ROOT,
    Toolchain,
    ToolchainError,
    build_program,
    find_toolchain,
    mono_sources,
)
from spikeforge.ipc.testing import running_server

pytestmark = pytest.mark.mono

GENOME = REPO_ROOT / "samples" / "genomes" / "wanderer.json"
STUB = PACKAGE_DIR / "Tests" / "UnityEngineStub" / "UnityEngine.cs"
COMPONENTS = sorted((PACKAGE_DIR / "Runtime" / "Components").glob("*.cs"))
FORAGERS = sorted((PACKAGE_DIR / "Samples~" / "Foragers").glob("*.cs"))


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    try:
        return find_toolchain()
    except ToolchainError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Unity component tests need Mono in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def stub_dll(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("unity-stub") / "UnityEngine.dll"
    res = subprocess.run([toolchain.mcs, "-langversion:7.2", "-target:library", f"-out:{out}", str(STUB)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def test_stub_is_labelled_and_never_compiled_by_unity() -> None:
    text = STUB.read_text(encoding="utf-8")
    assert "COMPILE-CHECK STUB" in text and "NOT UNITY" in text
    asmdef = (STUB.parent / "Spikeforge.UnityEngineStub.asmdef").read_text(encoding="utf-8")
    assert "SPIKEFORGE_UNITYENGINE_STUB" in asmdef


def test_components_compile_against_unityengine_stub(toolchain: Toolchain, stub_dll: Path, tmp_path: Path) -> None:
    # the runtime assembly as Unity builds it: client core + components, C# 7.2, warnings are errors
    build_program(COMPONENTS, tmp_path / "Spikeforge.Runtime.dll", extra_refs=[stub_dll], target="library",
                  toolchain=toolchain)


def test_foragers_sample_compiles_against_unityengine_stub(toolchain: Toolchain, stub_dll: Path,
                                                           tmp_path: Path) -> None:
    assert FORAGERS, "Samples~/Foragers has its scripts"
    assert (PACKAGE_DIR / "Samples~" / "Foragers" / "Forager.genome.json").is_file()
    build_program([*COMPONENTS, *FORAGERS], tmp_path / "Foragers.dll", extra_refs=[stub_dll], target="library",
                  toolchain=toolchain)


def test_components_drive_brains_in_stub_game_loop(toolchain: Toolchain, stub_dll: Path, tmp_path: Path) -> None:
    exe = build_program([*COMPONENTS, *FORAGERS, *mono_sources("ComponentsTest.cs")], tmp_path / "ComponentsTest.exe",
                        extra_refs=[stub_dll], toolchain=toolchain, defines=["SPIKEFORGE_TEST_FORAGERS"])
    (tmp_path / "UnityEngine.dll").write_bytes(stub_dll.read_bytes())
    with running_server(tmp_path / "srv", backend="native", seed=3) as srv:
        # --python: also the StartServer mode (the world launches `spikeforge serve`) and recovery
        # after that server is killed; cwd keeps the launched server's snapshot folder in tmp
        res = subprocess.run([toolchain.mono, str(exe), "--port", str(srv.port), "--token-file", str(srv.token_path),
                              "--genome", str(GENOME), "--python", sys.executable], capture_output=True, text=True,
                             timeout=180, check=False, cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert "components: " in out and " passed, 0 failed" in out


def test_world_keeps_its_session_while_paused(toolchain: Toolchain, stub_dll: Path, tmp_path: Path) -> None:
    # a game loop that calls nothing (no Update, no FixedUpdate: unfocused, runInBackground off)
    # for 5 s against a server that drops connections idle for 2 s: SpikeforgeWorld's timer
    # keepalive, a bare ProtocolSession's StartKeepAlive and one calling KeepAlive, all configured
    # for 30 s, keep session and brain (WELCOME announced 2 s); an idle control is dropped; then
    # the timer races the main thread's requests (2 ms keepalive) without a desync
    exe = build_program([*COMPONENTS, *mono_sources("KeepaliveTest.cs")], tmp_path / "KeepaliveTest.exe",
                        extra_refs=[stub_dll], toolchain=toolchain)
    (tmp_path / "UnityEngine.dll").write_bytes(stub_dll.read_bytes())
    with running_server(tmp_path / "srv", seed=3, args=["--idle-timeout", "2"]) as srv:
        res = subprocess.run([toolchain.mono, str(exe), "--port", str(srv.port), "--token-file", str(srv.token_path),
                              "--genome", str(GENOME), "--pause", "5"], capture_output=True, text=True,
                             timeout=60, check=False, cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert "keepalive: " in out and " passed, 0 failed" in out
