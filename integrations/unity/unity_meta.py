#!/usr/bin/env python3
"""Write (or check) the Unity ``.meta`` file of every file and folder of the UPM package.

Unity imports nothing from a package installed by git URL unless each asset has a ``.meta``
file with a GUID (packages are read-only: Unity cannot create them). The GUIDs here are
stable: ``md5("com.spikeforge.unity/" + path relative to the package)`` in hex, so a file
keeps its GUID across runs, machines and regenerations (references from scenes and
prefabs stay valid), and two paths never share one. ``Samples~`` is included: Unity copies
a sample with its ``.meta`` files into the user's Assets.

Usage::

    python3 integrations/unity/unity_meta.py          # write missing/stale .meta files, drop orphans
    python3 integrations/unity/unity_meta.py --check  # exit 1 and list what is missing or stale
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / "com.spikeforge.unity"
NAME = "com.spikeforge.unity"

_DEFAULT_TAIL = "  userData: \n  assetBundleName: \n  assetBundleVariant: \n"


def guid(rel: str) -> str:
    """The stable GUID of a package path (posix, relative to the package folder)."""
    return hashlib.md5(f"{NAME}/{rel}".encode()).hexdigest()


def meta_text(rel: str, is_dir: bool) -> str:
    """The ``.meta`` content Unity would write for this asset (importer by file type)."""
    head = f"fileFormatVersion: 2\nguid: {guid(rel)}\n"
    if is_dir:
        return head + "folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n" + _DEFAULT_TAIL
    suffix = Path(rel).suffix.lower()
    if suffix == ".cs":
        return head + ("MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n"
                       "  executionOrder: 0\n  icon: {instanceID: 0}\n") + _DEFAULT_TAIL
    if suffix == ".asmdef":
        return head + "AssemblyDefinitionImporter:\n  externalObjects: {}\n" + _DEFAULT_TAIL
    if rel == "package.json":
        return head + "PackageManifestImporter:\n  externalObjects: {}\n" + _DEFAULT_TAIL
    if suffix in (".json", ".md", ".txt"):
        return head + "TextScriptImporter:\n  externalObjects: {}\n" + _DEFAULT_TAIL
    return head + "DefaultImporter:\n  externalObjects: {}\n" + _DEFAULT_TAIL


def assets(package: Path = PACKAGE) -> list[tuple[str, bool]]:
    """(relative path, is folder) of every asset that needs a .meta (hidden files excluded)."""
    out = []
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package).as_posix()
        if path.name.endswith(".meta") or any(part.startswith(".") for part in Path(rel).parts):
            continue
        out.append((rel, path.is_dir()))
    return out


def expected(package: Path = PACKAGE) -> dict[Path, str]:
    """{.meta path: content} for the whole package."""
    return {package / f"{rel}.meta": meta_text(rel, is_dir) for rel, is_dir in assets(package)}


def problems(package: Path = PACKAGE) -> list[str]:
    """Missing, stale and orphaned .meta files (empty: all good)."""
    want = expected(package)
    out = [f"missing or stale: {p.relative_to(package)}" for p, text in want.items()
           if not p.exists() or p.read_text(encoding="utf-8") != text]
    out += [f"orphan: {p.relative_to(package)}" for p in package.rglob("*.meta") if p not in want]
    return out


def write(package: Path = PACKAGE) -> int:
    want = expected(package)
    n = 0
    for p, text in want.items():
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
            n += 1
    for p in package.rglob("*.meta"):
        if p not in want:
            p.unlink()
            n += 1
    return n


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        bad = problems()
        print("\n".join(bad) if bad else f"{len(expected())} .meta files up to date")
        return 1 if bad else 0
    if argv:
        print(__doc__)
        return 2
    print(f"{write()} .meta files written or removed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
