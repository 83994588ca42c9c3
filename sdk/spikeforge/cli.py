"""The ``spikeforge`` command: ``demo | serve | bench | inspect | export``.

Sub-commands that live in their own modules are dispatched by name, each module
exposing ``main(argv: list[str]) -> int``:

* ``spikeforge demo`` -> :mod:`spikeforge.demo` (``demo foragers`` -> :mod:`spikeforge.games.foragers`)
* ``spikeforge serve`` -> :mod:`spikeforge.ipc.serve`
* ``spikeforge bench NAME`` -> :mod:`spikeforge.bench.NAME`
* ``spikeforge export`` -> :mod:`spikeforge.engine.export`
* ``spikeforge inspect genome.json`` (here)
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable
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
    try:
        import spikeforge.bench as bench_pkg
    except ImportError:
        return []
    return sorted(m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if not m.name.startswith("_"))


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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "demo": "run the sample world of NPC brains (or `demo foragers`) and print a summary",
        "serve": "host a World for Godot/Unity/any client over the wire protocol",
        "bench": "benchmarks (" + ", ".join(bench_names()) + ")",
        "inspect": "validate and describe a genome file",
        "export": "compile a genome into a brain file for the C API",
    }
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: spikeforge COMMAND [ARGS]\n\ncommands:")
        for name, text in commands.items():
            print(f"  {name:8s} {text}")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        if rest and rest[0] == "foragers":
            return _load_main("spikeforge.games.foragers")(rest[1:])
        return _load_main("spikeforge.demo")(rest)
    if cmd == "serve":
        return _load_main("spikeforge.ipc.serve")(rest)
    if cmd == "export":
        return _load_main("spikeforge.engine.export")(rest)
    if cmd == "inspect":
        return inspect_main(rest)
    if cmd == "bench":
        names = bench_names()
        if not rest or rest[0] in ("-h", "--help"):
            print("usage: spikeforge bench NAME [--backend B] [--seed S] [--json] ...\n\nbenchmarks: "
                  + ", ".join(names))
            return 0 if rest else 2
        if rest[0] not in names:
            print(f"spikeforge bench: unknown benchmark {rest[0]!r}; known: {', '.join(names)}", file=sys.stderr)
            return 2
        return _load_main(f"spikeforge.bench.{rest[0]}")(rest[1:])
    print(f"spikeforge: unknown command {cmd!r}; known: {', '.join(commands)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
