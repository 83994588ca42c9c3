"""``spikeforge demo``: a headless world of NPC brains, run for a set time, then a summary.

Each NPC ("wanderer") is one brain: it sees the bearing and distance of its target
(Gaussian population-coded sensors), feels bumps (event sensor), and steers with a
population-vector "turn" actuator and a rate-coded "speed" actuator. The game loop is
vectorized over NPCs: one bulk sensor write, one ``advance``, one bulk actuator read
per frame.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from spikeforge.model import LIF, Circuit, FixedProbability, Izhikevich, ModulatedLIF
from spikeforge.runtime.world import World


def wanderer_circuit() -> Circuit:
    """The demo NPC brain: 32 sensory, 64 hidden (LIF + FS Izhikevich), 28 motor neurons."""
    c = Circuit("wanderer")
    c.add_population("sight", 32, LIF(tau_m=10.0, t_ref=2.0))
    c.add_population("touch", 4, LIF(tau_m=10.0))
    c.add_population("hidden", 48, ModulatedLIF(tau_m=20.0, bias=10.0, habituation=0.5), v_init=(-65.0, -52.0))
    c.add_population("inhib", 16, Izhikevich.preset("FS"))
    c.add_population("turn", 20, LIF(tau_m=15.0))
    c.add_population("speed", 8, LIF(tau_m=15.0, bias=12.0))
    c.connect("sight", "hidden", FixedProbability(0.3), weight=4.0)
    c.connect("touch", "hidden", FixedProbability(0.5), weight=6.0)
    c.connect("hidden", "hidden", FixedProbability(0.1, allow_self=False), weight=1.0, delay=(1, 3))
    c.connect("hidden", "inhib", FixedProbability(0.3), weight=3.0)
    c.connect("inhib", "hidden", FixedProbability(0.3), weight=-3.0)
    c.connect("sight", "turn", FixedProbability(0.25), weight=5.0)
    c.connect("hidden", "turn", FixedProbability(0.2), weight=2.0)
    c.connect("hidden", "speed", FixedProbability(0.2), weight=2.0)
    c.connect("inhib", "speed", FixedProbability(0.3), weight=-2.0)
    c.add_sensor("bearing", "sight", channels=2, kind="gaussian", low=-1.0, high=1.0, max_rate=200.0, sigma=0.2)
    c.add_sensor("bump", "touch", channels=1, kind="event")
    c.add_actuator("turn", "turn", channels=5, kind="population_vector", low=-1.0, high=1.0)
    c.add_actuator("speed", "speed", channels=1, kind="rate")
    return c


def run_demo(brains: int, seconds: float, fps: float, dt: float, backend: str, seed: int,
             progress: bool = True, record_brains: int = 0) -> dict[str, object]:
    """Run the wanderer world; return the summary (and a spike raster of the first brains)."""
    from rich.progress import Progress

    world = World(dt=dt, backend=backend, seed=seed)
    circuit = wanderer_circuit()
    world.spawn(circuit, count=brains)
    group = world.group(circuit)
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-10, 10, size=(brains, 2))
    heading = rng.uniform(-math.pi, math.pi, size=brains)
    target = rng.uniform(-10, 10, size=(brains, 2))
    bearing, bump = group.sensor("bearing"), group.sensor("bump")
    turn, speed = group.actuator("turn"), group.actuator("speed")
    frames = round(seconds * fps)
    raster_t: list[np.ndarray] = []
    raster_n: list[np.ndarray] = []
    limit = int(world.layout.brain_start[min(record_brains, brains)]) if record_brains else 0
    reached = 0
    t0 = time.perf_counter()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"{brains} NPC brains", total=frames)
        for _ in range(frames):
            to = target - pos
            dist = np.hypot(to[:, 0], to[:, 1])
            rel = (np.arctan2(to[:, 1], to[:, 0]) - heading + math.pi) % (2 * math.pi) - math.pi
            bearing[:, 0] = rel / math.pi
            bearing[:, 1] = np.clip(dist / 10.0 - 1.0, -1.0, 1.0)
            frame = world.advance(1.0 / fps)
            heading += turn[:, 0] * 3.0 / fps + rel * 0.5 / fps
            step_len = (0.5 + speed[:, 0] / 50.0) / fps
            pos += np.stack([np.cos(heading), np.sin(heading)], axis=1) * step_len[:, None]
            hit = dist < 0.5
            reached += int(hit.sum())
            target[hit] = rng.uniform(-10, 10, size=(int(hit.sum()), 2))
            out = np.abs(pos) > 10
            bump[:, 0] = out.any(axis=1)
            pos = np.clip(pos, -10, 10)
            if limit:
                keep = frame.spikes.neurons < limit
                raster_t.append(frame.spikes.steps[keep])
                raster_n.append(frame.spikes.neurons[keep])
            bar.advance(task)
    wall = time.perf_counter() - t0
    stats = world.stats()
    summary: dict[str, object] = {
        "backend": stats["backend"], "brains": stats["brains"], "neurons": stats["neurons"],
        "synapses": stats["synapses"], "spikes": stats["spikes"], "mean_rate_hz": stats["mean_rate_hz"],
        "steps": stats["steps"], "model_s": stats["time_s"], "wall_s": wall,
        "realtime_factor": stats["time_s"] / wall if wall > 0 else float("inf"), "targets_reached": reached,
    }
    if limit:
        summary["raster"] = (np.concatenate(raster_t) if raster_t else np.zeros(0, np.int64),
                             np.concatenate(raster_n) if raster_n else np.zeros(0, np.int32), dt)
    return summary


def plot_raster(raster: tuple[np.ndarray, np.ndarray, float], path: str) -> None:
    """Spike raster of the recorded brains (time in s vs neuron) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, neurons, dt = raster
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    ax.scatter(steps * dt, neurons, s=1, c="k", marker="|")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron (first brains)")
    ax.set_title("spikeforge demo: spike raster")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def need_matplotlib(ap: argparse.ArgumentParser) -> None:
    """Exit with a one-line error before any work when ``--plot`` cannot be honoured."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        ap.error(f"--plot needs matplotlib, which is not importable ({exc}); "
                 "install it with pip install 'spikeforge[plot]'")


def main(argv: list[str]) -> int:
    """Command line of ``spikeforge demo wanderers``; returns the exit status."""
    from rich.console import Console
    from rich.table import Table

    ap = argparse.ArgumentParser(prog="spikeforge demo", description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, default=200, help="number of NPC brains (default 200)")
    ap.add_argument("--seconds", type=float, default=10.0, help="game time to simulate (s)")
    ap.add_argument("--fps", type=float, default=60.0, help="frames per second of the game loop")
    ap.add_argument("--dt", type=float, default=0.001, help="fixed step (s)")
    ap.add_argument("--backend", default="auto", help="auto | numpy | native | gpu")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plot", metavar="PNG", help="write a spike raster of the first 5 brains")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    if args.brains < 1 or args.seconds <= 0 or args.fps <= 0:
        ap.error("--brains, --seconds and --fps must be positive")
    if args.plot:
        need_matplotlib(ap)
    summary = run_demo(args.brains, args.seconds, args.fps, args.dt, args.backend, args.seed,
                       progress=not args.quiet, record_brains=5 if args.plot else 0)
    table = Table(title="spikeforge demo: wandering NPCs")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    fmt = {"mean_rate_hz": "{:.2f} Hz", "model_s": "{:.2f} s", "wall_s": "{:.2f} s", "realtime_factor": "{:.1f}x"}
    for key, value in summary.items():
        if key == "raster":
            continue
        table.add_row(key, fmt.get(key, "{}").format(value))
    Console().print(table)
    if args.plot:
        raster = summary["raster"]
        assert isinstance(raster, tuple)
        plot_raster(raster, args.plot)
        Console().print(f"raster written to {args.plot}")
    return 0
