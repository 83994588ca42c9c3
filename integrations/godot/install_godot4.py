#!/usr/bin/env python3
"""Find or install a headless Godot 4 for the tests and ``spikeforge bench godot``.

Order (the first that works wins):

1. ``$GODOT4``: a Godot 4.2+ executable (or a wrapper script) named by the user;
2. ``godot`` / ``godot4`` on ``PATH`` when ``--version`` says 4.2 or newer;
3. a private root cached under ``.venv/godot4-root`` (``make godot4`` builds it).

The private root is Debian *sid*'s own ``godot`` package (an editor build that runs
``--headless``) and the libraries it needs, downloaded with a private apt configuration
(nothing is installed system-wide: no dpkg database, no files outside the root) and
unpacked with ``dpkg -x``. sid's glibc is newer than the host's, so Godot is started with
the root's own dynamic loader; ``ROOT/godot4`` is a wrapper script that does it.

Package names are resolved from the current sid index at install time: the seed package
``godot`` plus the loader libraries (libc6, libstdc++6, libgcc-s1), the closure of their
``Depends``/``Pre-Depends`` over library packages, then one more package for each
``libX.so.N`` the loader still reports missing (looked up by name in the index).

Usage::

    python3 integrations/godot/install_godot4.py            # find or install; prints the command
    python3 integrations/godot/install_godot4.py --find     # find only (exit 1 when none)
    python3 integrations/godot/install_godot4.py --root DIR # cache somewhere else
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = REPO / ".venv" / "godot4-root"
MIN_VERSION = (4, 2)
SEED = ["godot", "libc6", "libstdc++6", "libgcc-s1"]
KEYRINGS = ["/usr/share/keyrings/debian-archive-keyring.gpg"]
LIBDIRS = ["usr/lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu/pulseaudio", "lib/x86_64-linux-gnu"]


def log(msg: str) -> None:
    print(f"[godot4] {msg}", file=sys.stderr, flush=True)


def godot_version(cmd: str) -> tuple[int, int] | None:
    """(major, minor) printed by ``cmd --headless --version``; None when it does not run."""
    try:
        proc = subprocess.run([cmd, "--headless", "--version"], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")})
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"^(\d+)\.(\d+)", proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "")
    if proc.returncode != 0 or not m:
        return None
    return int(m.group(1)), int(m.group(2))


def find(root: Path = DEFAULT_ROOT) -> str | None:
    """The Godot 4.2+ command to run (``$GODOT4``, PATH, then the cached root), or None."""
    env = os.environ.get("GODOT4", "").strip()
    if env:
        path = shutil.which(env) or env
        v = godot_version(path)
        if v is None or v < MIN_VERSION:
            log(f"GODOT4={env!r} is not a runnable Godot {MIN_VERSION[0]}.{MIN_VERSION[1]}+ (version {v})")
            return None
        return path
    for name in ("godot", "godot4"):
        path = shutil.which(name)
        if path is not None:
            v = godot_version(path)
            if v is not None and v >= MIN_VERSION:
                return path
    wrapper = root / "godot4"
    if wrapper.exists() and godot_version(str(wrapper)) is not None:
        return str(wrapper)
    return None


# ------------------------------------------------------------------ private apt
def host_mirror() -> str:
    """The Debian mirror this machine's own sources use (deb.debian.org when none is found)."""
    texts = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            texts.append(p.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            pass
    for text in texts:
        for uri in re.findall(r"(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M):
            if re.search(r"/debian/?$", uri) and "security" not in uri:
                return uri.rstrip("/")
    return "http://deb.debian.org/debian"


class Apt:
    """apt-get/apt-cache with a private sources list, index, cache and an empty status file."""

    def __init__(self, state: Path) -> None:
        self.state = state
        (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (state / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (state / "status").touch()
        keyring = next((k for k in KEYRINGS if Path(k).exists()), None)
        signed = f"[signed-by={keyring}] " if keyring else ""
        (state / "sources.list").write_text(f"deb {signed}{host_mirror()} sid main\n", encoding="utf-8")
        self.opts = [
            f"-oDir::Etc::SourceList={state / 'sources.list'}", "-oDir::Etc::SourceParts=/nonexistent",
            f"-oDir::State::Lists={state / 'lists'}", f"-oDir::Cache={state / 'cache'}",
            f"-oDir::State::status={state / 'status'}", "-oAPT::Architecture=amd64",
            "-oAPT::Architectures=amd64", "-oDebug::NoLocking=1", "-oAcquire::Retries=3",
        ]

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        proc = subprocess.run([tool, *self.opts, *args], capture_output=True, text=True, cwd=cwd)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args[:3])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc.stdout

    def update(self) -> None:
        log(f"apt-get update (sid index from {host_mirror()}) ...")
        self.run("apt-get", "-qq", "update")

    def known(self, names: list[str]) -> set[str]:
        """The names of ``names`` that are real (non-virtual) packages in the index."""
        out = set()
        for chunk in _chunks(names, 200):
            proc = subprocess.run(["apt-cache", *self.opts, "show", "--no-all-versions", *chunk],
                                  capture_output=True, text=True)
            out.update(re.findall(r"^Package: (\S+)", proc.stdout, re.M))
        return out

    def depends(self, names: list[str]) -> dict[str, list[list[str]]]:
        """{package: [[alternative, ...] per Depends/Pre-Depends clause]} for ``names``."""
        result: dict[str, list[list[str]]] = {}
        for chunk in _chunks(names, 200):
            proc = subprocess.run(["apt-cache", *self.opts, "show", "--no-all-versions", *chunk],
                                  capture_output=True, text=True)
            for para in proc.stdout.split("\n\n"):
                m = re.search(r"^Package: (\S+)", para, re.M)
                if not m:
                    continue
                clauses: list[list[str]] = []
                for field in ("Pre-Depends", "Depends"):
                    fm = re.search(rf"^{field}: (.*)$", para, re.M)
                    if fm:
                        for clause in fm.group(1).split(","):
                            alts = [re.sub(r"[\s(].*$", "", a.strip()).split(":")[0] for a in clause.split("|")]
                            clauses.append([a for a in alts if a])
                result[m.group(1)] = clauses
        return result


def _chunks(items: list[str], n: int) -> list[list[str]]:
    return [items[i:i + n] for i in range(0, len(items), n)]


def is_library(name: str) -> bool:
    if name.startswith("lib"):
        return not name.endswith(("-dev", "-bin", "-doc"))
    return re.fullmatch(r"gcc-\d+-base", name) is not None


def closure(apt: Apt, seed: list[str]) -> list[str]:
    """Seed packages plus the library packages they need, transitively (first alternative
    that is a real package)."""
    chosen: set[str] = set()
    todo = list(seed)
    while todo:
        deps = apt.depends(todo)
        missing = [n for n in todo if n not in deps]
        if missing:
            log(f"not in the index (virtual or renamed, skipped): {' '.join(missing)}")
        chosen.update(deps)
        wanted: list[list[str]] = [alts for clauses in deps.values() for alts in clauses]
        flat = sorted({a for alts in wanted for a in alts} - chosen)
        real = apt.known(flat) if flat else set()
        nxt: set[str] = set()
        for alts in wanted:
            pick = next((a for a in alts if a in real or a in chosen), None)
            if pick is not None and pick not in chosen and is_library(pick):
                nxt.add(pick)
        todo = sorted(nxt)
    return sorted(chosen)


def soname_candidates(soname: str) -> list[str]:
    """Debian package names that usually ship ``soname`` (``libfoo.so.3`` -> libfoo3, ...)."""
    m = re.fullmatch(r"(lib[\w+.-]*?)\.so\.([\d.]+)", soname)
    if not m:
        return []
    base, ver = m.group(1).lower().replace("_", "-"), m.group(2).split(".")[0]
    sep = "-" if base[-1].isdigit() else ""
    names = [f"{base}{sep}{ver}", f"{base}-{ver}", f"{base}{ver}"]
    return [n2 for n in names for n2 in (n, f"{n}t64", f"{n}a")]


def unpack(debs: list[Path], root: Path) -> None:
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)


def write_wrapper(root: Path) -> Path:
    lib_path = ":".join(f"$ROOT/{d}" for d in LIBDIRS)
    wrapper = root / "godot4"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# Godot 4 from Debian sid, unpacked by integrations/godot/install_godot4.py; started with\n"
        "# the root's own loader (sid's glibc is newer than the host's).\n"
        'ROOT="$(cd "$(dirname "$0")" && pwd)"\n'
        f'exec "$ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "{lib_path}" '
        '"$ROOT/usr/bin/godot" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper


def missing_libs(wrapper: Path) -> list[str]:
    proc = subprocess.run([str(wrapper), "--headless", "--version"], capture_output=True, text=True, timeout=120)
    return re.findall(r"error while loading shared libraries: (\S+?):", proc.stderr)


def install(root: Path) -> str:
    """Build the private root (idempotent); returns the wrapper path."""
    state = root.parent / (root.name + "-apt")
    apt = Apt(state)
    apt.update()
    pkgs = closure(apt, SEED)
    log(f"{len(pkgs)} packages from the sid index: {' '.join(pkgs)}")
    tmp_root = root.parent / (root.name + ".partial")
    shutil.rmtree(tmp_root, ignore_errors=True)
    tmp_root.mkdir(parents=True)
    debs_dir = state / "debs"
    debs_dir.mkdir(exist_ok=True)
    done: set[str] = set()
    for _round in range(12):
        new = [p for p in pkgs if p not in done]
        if new:
            log(f"downloading {len(new)} packages ...")
            for chunk in _chunks(new, 100):
                apt.run("apt-get", "-qq", "download", *chunk, cwd=debs_dir)
            debs = [d for p in new for d in debs_dir.glob(f"{p}_*.deb")]
            unpack(debs, tmp_root)
            done.update(new)
        wrapper = write_wrapper(tmp_root)
        missing = missing_libs(wrapper)
        if not missing:
            break
        log(f"loader reports missing: {' '.join(missing)}")
        extra: list[str] = []
        for soname in missing:
            cands = [c for c in soname_candidates(soname) if c not in done]
            real = sorted(apt.known(cands)) if cands else []
            if not real:
                raise RuntimeError(f"no sid package found for {soname} (tried {cands})")
            extra.append(real[0])
        pkgs = sorted(set(pkgs) | set(closure(apt, extra)))
    else:
        raise RuntimeError("Godot 4 still misses libraries after 12 rounds")
    if root.exists():
        shutil.rmtree(root)
    tmp_root.rename(root)
    wrapper = write_wrapper(root)
    version = subprocess.run([str(wrapper), "--headless", "--version"], capture_output=True, text=True,
                             timeout=120).stdout.strip()
    log(f"Godot {version} in {root}")
    return str(wrapper)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where to cache the private root")
    ap.add_argument("--find", action="store_true", help="only look; exit 1 when no Godot 4 is found")
    ap.add_argument("--force", action="store_true", help="rebuild the private root even when one works")
    args = ap.parse_args(argv)
    found = None if args.force else find(args.root)
    if found is None and not args.find:
        if os.environ.get("GODOT4", "").strip():
            return 1
        found = install(args.root.resolve())
    if found is None:
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
