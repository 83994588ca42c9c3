"""The ``spikeforge`` command: ``demo | serve | bench | inspect | export``.

Sub-commands that live in their own modules are dispatched by name, each module
exposing ``main(argv: list[str]) -> int``:

* ``spikeforge demo [NAME]`` -> the module named in :data:`DEMOS` (default: the learning showcase)
* ``spikeforge serve`` -> :mod:`spikeforge.ipc.serve`
* ``spikeforge bench NAME`` -> :mod:`spikeforge.bench.NAME`
* ``spikeforge export`` -> :mod:`spikeforge.runtime.export`
* ``spikeforge inspect genome.json`` (here)
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

MainFn = Callable[[list[str]], int]


def _load_main(module: str) -> MainFn:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise SystemExit(f"spikeforge: {module} is not available in this installation") from None
        raise
    return cast(MainFn, mod.main)


def bench_names() -> list[str]:
    """Names of the benchmarks ``spikeforge bench NAME`` runs: the modules of :mod:`spikeforge.bench`,
    with ``_`` written as ``-`` (``distal_reward`` runs as ``spikeforge bench distal-reward``)."""
    try:
        import spikeforge.bench as bench_pkg
    except ImportError:
        return []
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(bench_pkg.__path__)
                  if not m.name.startswith("_"))


def bench_module(name: str) -> str:
    """The module that runs ``spikeforge bench NAME``."""
    return f"spikeforge.bench.{name.replace('-', '_')}"


def inspect_main(argv: list[str]) -> int:
    """Validate a genome file and print its populations, projections and organs."""
    from rich.console import Console
    from rich.table import Table

    from spikeforge.model import GenomeError, load_genome

    ap = argparse.ArgumentParser(prog="spikeforge inspect", description=inspect_main.__doc__)
    ap.add_argument("genome", help="path to a genome JSON file")
    args = ap.parse_args(argv)
    console = Console()
    try:
        circuit = load_genome(args.genome)
    except GenomeError as exc:
        console.print(f"[red]invalid genome[/red] {args.genome}: [bold]{exc.field}[/bold]: {exc.problem}")
        return 2
    except OSError as exc:
        console.print(f"[red]cannot read[/red] {args.genome}: {exc.strerror}")
        return 2
    flat = circuit.flatten()
    t = Table(title=f"circuit {circuit.name!r}: {flat.n_neurons} neurons")
    for col in ("population", "size", "model", "parameters"):
        t.add_column(col)
    for p in flat.populations:
        d = p.model.to_dict()
        kind = d.pop("model")
        t.add_row(p.name, str(p.size), kind, ", ".join(f"{k}={v}" for k, v in d.items()))
    console.print(t)
    t2 = Table(title="projections")
    for col in ("name", "pre -> post", "kind", "rule", "weight", "delay", "plasticity"):
        t2.add_column(col)
    for pr in flat.projections:
        t2.add_row(pr.name, f"{pr.pre} -> {pr.post}", pr.kind, str(pr.rule.to_dict()),
                   str(pr.weight.to_dict()), str(pr.delay),
                   "-" if pr.plasticity is None else str(pr.plasticity.to_dict().get("rule", "yes")))
    console.print(t2)
    t3 = Table(title="organs (stable order: by name)")
    for col in ("organ", "name", "population", "kind", "shape", "range"):
        t3.add_column(col)
    for s in flat.sensors:
        t3.add_row("sensor", s.name, s.population, s.kind, str(s.shape), f"[{s.low}, {s.high}]")
    for a in flat.actuators:
        t3.add_row("actuator", a.name, a.population, a.kind, str(a.shape), f"[{a.low}, {a.high}]")
    console.print(t3)
    return 0


DEMOS: dict[str, tuple[str, str]] = {
    "learning": ("spikeforge.showcase", "foragers that learn vs frozen vs random brains, side by side (default)"),
    "foragers": ("spikeforge.games.foragers", "one foragers run: learn, frozen or random; --view for a live window"),
    "poison": ("spikeforge.games.poison", "foragers that must learn to tell food from look-alike poison (by smell)"),
    "wanderers": ("spikeforge.demo", "a headless world of 200 wandering NPC brains and a spike raster"),
}
"""``spikeforge demo NAME``: module and one-line description of each demo."""


def _first_line(module: str) -> str:
    """First docstring paragraph of ``module`` without its ``spikeforge x:`` prefix.

    Read from the source, so listing the benchmarks imports none of them.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    first = " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "")
    return first.split(": ", 1)[1] if first.startswith("spikeforge ") and ": " in first else first


COMMANDS: dict[str, str] = {
    "demo": "run a demo (default: NPCs that learn, beside frozen and random brains)",
    "serve": "host a World for Godot/Unity/any client over the wire protocol",
    "bench": "run a benchmark",
    "inspect": "validate and describe a genome file",
    "export": "compile a genome into a brain file for the C API",
}
"""Top-level sub-commands and their one-line help."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser (its help lists the sub-commands; each sub-command parses its own options)."""
    from spikeforge import __version__

    ap = argparse.ArgumentParser(
        prog="spikeforge",
        description="Spiking-neural-network brains for game NPCs: demos, the protocol server, benchmarks, tools.",
        epilog="Run `spikeforge COMMAND --help` for the options of one command.")
    ap.add_argument("--version", action="version", version=f"spikeforge {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in COMMANDS.items():
        sub.add_parser(name, help=text)
    return ap


def _listing_parser(prog: str, description: str, usage: str, title: str, rows: dict[str, str]
                    ) -> argparse.ArgumentParser:
    listing = "\n".join(f"  {n:14s} {d}" for n, d in rows.items())
    return argparse.ArgumentParser(prog=prog, usage=usage, description=description, epilog=f"{title}:\n{listing}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def _dispatch_named(prog: str, rest: list[str], rows: dict[str, str], modules: dict[str, str], default: str | None,
                    description: str) -> int:
    """``prog [NAME] [ARGS]``: print the listing on ``--help`` or a bad name, else run ``modules[NAME]``."""
    what = prog.split()[-1]
    usage = f"{prog} {'[NAME]' if default else 'NAME'} [ARGS...]"
    help_ap = _listing_parser(prog, description, usage, f"{what}s" if what == "demo" else "benchmarks", rows)
    if (not rest and default is None) or (rest and rest[0] in ("-h", "--help")):
        help_ap.print_help(sys.stdout if rest else sys.stderr)
        return 0 if rest else 2
    name = default or ""
    if rest and not rest[0].startswith("-"):
        name, rest = rest[0], rest[1:]
    if name not in modules:
        print(f"{prog}: unknown name {name!r}; known: {', '.join(modules)}", file=sys.stderr)
        return 2
    return _load_main(modules[name])(rest)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spikeforge`` command; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = build_parser()
    if not argv or argv[0].startswith("-"):
        if not argv:
            ap.print_help(sys.stderr)
            return 2
        try:
            ap.parse_args(argv)  # --help / --version print and exit 0; anything else is a usage error
        except SystemExit as exc:
            return int(exc.code or 0)
        ap.print_help(sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        return _dispatch_named("spikeforge demo", rest, {n: d for n, (_, d) in DEMOS.items()},
                               {n: m for n, (m, _) in DEMOS.items()}, "learning", "Run a demo.")
    if cmd == "bench":
        names = bench_names()
        return _dispatch_named("spikeforge bench", rest, {n: _first_line(bench_module(n)) for n in names},
                               {n: bench_module(n) for n in names}, None,
                               "Run one benchmark; `spikeforge bench NAME --help` lists its options.")
    if cmd == "serve":
        return _load_main("spikeforge.ipc.serve")(rest)
    if cmd == "export":
        return _load_main("spikeforge.runtime.export")(rest)
    if cmd == "inspect":
        return inspect_main(rest)
    print(f"spikeforge: unknown command {cmd!r}; known: {', '.join(COMMANDS)} (spikeforge --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
