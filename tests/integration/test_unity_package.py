"""The Unity package as a user gets it: importable from a git URL (a ``.meta`` with a stable,
unique GUID for every file and folder, ``Samples~`` included), one public MonoBehaviour per
file named as its file (Unity attaches a component only from the file named like its class),
and the NUnit tests of ``Tests/Runtime`` and ``Tests/Editor`` (what Unity's Test Runner runs)
run here under Mono with Debian's NUnit 2.6 (``nunit-console``, package ``nunit-console``)
against the package's UnityEngine compile-check stub.

Without Mono/NUnit the NUnit test skips locally and FAILS under CI=true.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from spikeforge.bench.unity import PACKAGE_DIR, REPO_ROOT, ToolchainError, build_program, find_toolchain

STUB = PACKAGE_DIR / "Tests" / "UnityEngineStub" / "UnityEngine.cs"
COMPONENTS = sorted((PACKAGE_DIR / "Runtime" / "Components").glob("*.cs"))


def _meta_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unity_meta", REPO_ROOT / "integrations" / "unity" / "unity_meta.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_file_and_folder_has_a_meta_with_a_unique_stable_guid() -> None:
    guids: dict[str, str] = {}
    checked = 0
    for path in sorted(PACKAGE_DIR.rglob("*")):
        rel = path.relative_to(PACKAGE_DIR).as_posix()
        if path.name.endswith(".meta") or any(p.startswith(".") for p in Path(rel).parts):
            continue
        meta = path.parent / (path.name + ".meta")
        assert meta.is_file(), f"{rel} has no .meta (Unity would import nothing from a git URL)"
        text = meta.read_text(encoding="utf-8")
        m = re.search(r"^guid: ([0-9a-f]{32})$", text, re.M)
        assert m, f"{rel}.meta: no 32-hex guid"
        assert m.group(1) not in guids, f"{rel} and {guids[m.group(1)]} share guid {m.group(1)}"
        guids[m.group(1)] = rel
        assert ("folderAsset: yes" in text) == path.is_dir(), rel
        checked += 1
    assert any(r.startswith("Samples~/") for r in guids.values())
    assert checked > 40
    # stable: exactly what the generator derives from the paths (md5), no orphans
    assert _meta_module().problems() == [], "run: python3 integrations/unity/unity_meta.py"


def test_meta_check_catches_a_missing_meta(tmp_path: Path) -> None:
    mod = _meta_module()
    pkg = tmp_path / "pkg"
    shutil.copytree(PACKAGE_DIR, pkg)
    (pkg / "Runtime" / "Components" / "BrainAgent.cs.meta").unlink()
    (pkg / "Runtime" / "Extra.cs").write_text("// new\n", encoding="utf-8")
    assert sorted(mod.problems(pkg)) == ["missing or stale: Runtime/Components/BrainAgent.cs.meta",
                                         "missing or stale: Runtime/Extra.cs.meta"]
    assert mod.guid("Runtime/Extra.cs") == mod.guid("Runtime/Extra.cs") != mod.guid("Runtime/Extra2.cs")


CLASS = re.compile(r"^\s*public\s+(?:sealed\s+|abstract\s+|partial\s+)*class\s+(\w+)\s*(?::\s*([\w.,\s<>]+?))?\s*$",
                   re.M)


def _public_behaviours(files: list[Path]) -> dict[Path, list[str]]:
    """{file: public classes deriving (transitively) from MonoBehaviour}."""
    bases: dict[str, list[str]] = {}
    where: dict[str, Path] = {}
    for f in files:
        for name, base in CLASS.findall(f.read_text(encoding="utf-8")):
            bases[name] = [b.strip().split(".")[-1] for b in base.split(",")] if base else []
            where[name] = f

    def is_behaviour(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == "MonoBehaviour":
            return True
        return any(b not in seen and is_behaviour(b, seen | {name}) for b in bases.get(name, []))

    out: dict[Path, list[str]] = {}
    for name, f in where.items():
        if is_behaviour(name):
            out.setdefault(f, []).append(name)
    return out


def test_one_public_monobehaviour_per_file_named_as_its_file() -> None:
    files = sorted([*(PACKAGE_DIR / "Runtime").rglob("*.cs"), *(PACKAGE_DIR / "Samples~").rglob("*.cs")])
    found = _public_behaviours(files)
    bad = {f.relative_to(PACKAGE_DIR).as_posix(): names for f, names in found.items()
           if names != [f.stem]}
    assert not bad, f"files whose public MonoBehaviours are not exactly one named as the file: {bad}"
    names = {n for ns in found.values() for n in ns}
    assert {"BrainAgent", "SpikeforgeWorld", "RayPerceptionSensor", "ScalarValueSensor", "TargetSensor",
            "MovementActuator", "DiscreteActionActuator", "SpikeEventActuator", "SensorComponent",
            "ActuatorComponent"} <= names


def test_the_file_rule_catches_two_behaviours_in_one_file(tmp_path: Path) -> None:
    f = tmp_path / "Sensors.cs"
    f.write_text("public sealed class A : SensorComponent, ISensor\n{\n}\npublic class B : MonoBehaviour\n{\n}\n"
                 "public abstract class SensorComponent : MonoBehaviour\n{\n}\n", encoding="utf-8")
    assert sorted(_public_behaviours([f])[f]) == ["A", "B", "SensorComponent"]


def test_readme_documents_the_git_url_install() -> None:
    readme = (PACKAGE_DIR / "README.md").read_text(encoding="utf-8")
    assert "?path=/integrations/unity/com.spikeforge.unity" in readme
    assert "ISensor" in readme and "SensorComponent" in readme


def _nunit() -> tuple[str, Path]:
    console = shutil.which("nunit-console")
    framework = sorted(Path("/usr/lib/cli").glob("nunit.framework-2.6*/nunit.framework.dll"))
    if console is None or not framework:
        message = "NUnit is missing (apt-get install nunit-console; `make apt` does it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return console, framework[-1]


@pytest.mark.mono
def test_nunit_tests_of_the_package_pass_under_mono(tmp_path: Path) -> None:
    try:
        tc = find_toolchain()
    except ToolchainError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    console, framework = _nunit()
    stub = tmp_path / "UnityEngine.dll"
    res = subprocess.run([tc.mcs, "-langversion:7.2", "-target:library", f"-out:{stub}", str(STUB)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    tests = sorted([*(PACKAGE_DIR / "Tests" / "Runtime").glob("*.cs"),
                    *(PACKAGE_DIR / "Tests" / "Editor").glob("*.cs")])
    assert len(tests) >= 2
    dll = build_program([*COMPONENTS, *tests], tmp_path / "Spikeforge.Tests.dll", extra_refs=[stub, framework],
                        target="library", toolchain=tc)
    shutil.copy2(framework, tmp_path / framework.name)
    xml = tmp_path / "result.xml"
    run = subprocess.run([console, str(dll), "-nologo", f"-xml={xml}"], capture_output=True, text=True,
                         timeout=300, check=False, cwd=tmp_path)
    out = run.stdout + run.stderr
    assert xml.exists(), out[-4000:]
    root = ET.parse(xml).getroot()
    total, failures, errors = (int(root.get(k, "0")) for k in ("total", "failures", "errors"))
    assert run.returncode == 0 and failures == 0 and errors == 0, out[-6000:]
    assert "Native Crash Reporting" not in out, out[-6000:]  # a crash after the run can still exit 0
    assert total >= 8, out[-3000:]
