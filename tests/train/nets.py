"""Small circuits for the training tests: every feature the mirror supports."""

from __future__ import annotations

import numpy as np

from spikeforge.model import LIF, AdaptiveLIF, Circuit, ModulatedLIF, Uniform


def feature_circuit() -> Circuit:
    """LIF, adaptive LIF and modulated LIF (habituation, modulation; no bursts), delays 1-3
    (fixed per projection: random delays would be a random connectivity),
    excitatory / inhibitory / modulatory projections, refractoriness, excitability < 1,
    current / Poisson / Gaussian / event sensors, rate and population-vector actuators."""
    c = Circuit("feat")
    c.add_population("cur", 4, LIF(tau_m=10.0, t_ref=3.0))
    c.add_population("poi", 6, LIF())
    c.add_population("gau", 8, LIF())
    c.add_population("evt", 2, LIF())
    c.add_population("hid", 10, AdaptiveLIF(tau_m=15.0, tau_w=50.0, b=1.5, excitability=0.9), v_init=(-65.0, -55.0))
    c.add_population("mod", 3, LIF())
    c.add_population("out", 6, ModulatedLIF(burst_overshoot=0.0, habituation=0.5, mod_gain=0.2))
    c.add_sensor("cur", "cur", channels=2, kind="current", low=-1.0, high=1.0, gain=30.0)
    c.add_sensor("poi", "poi", channels=2, kind="poisson", low=0.0, high=1.0, max_rate=200.0)
    c.add_sensor("gau", "gau", channels=1, kind="gaussian", low=-1.0, high=1.0, max_rate=300.0, sigma=0.15)
    c.add_sensor("evt", "evt", channels=2, kind="event")
    c.add_actuator("rate", "out", channels=3, kind="rate")
    c.add_actuator("vec", "hid", channels=5, kind="population_vector", low=-1.0, high=1.0)
    c.connect("cur", "hid", weight=Uniform(2.0, 8.0), delay=3, name="cur->hid")
    c.connect("poi", "hid", weight=Uniform(3.0, 9.0), name="poi->hid")
    c.connect("gau", "hid", weight=Uniform(1.0, 7.0), delay=2, name="gau->hid")
    c.connect("evt", "hid", weight=10.0, name="evt->hid")
    c.connect("hid", "hid", weight=Uniform(-6.0, -1.0), name="hid-|hid")
    c.connect("hid", "out", weight=Uniform(2.0, 8.0), delay=2, name="hid->out")
    c.connect("poi", "mod", weight=12.0, name="poi->mod")
    c.connect("mod", "out", kind="modulatory", weight=0.5, name="mod~>out")
    return c


def feature_inputs(frames: int, batch: int, seed: int) -> dict[str, np.ndarray]:
    """Random sensor sequences (frames, batch, channels), incl. out-of-range and NaN values."""
    rng = np.random.default_rng(seed)
    cur = rng.uniform(-1.5, 1.5, (frames, batch, 2)).astype(np.float32)
    cur[0, 0, 0] = np.nan
    return {"cur": cur,
            "poi": rng.uniform(-0.2, 1.2, (frames, batch, 2)).astype(np.float32),
            "gau": rng.uniform(-1.1, 1.1, (frames, batch, 1)).astype(np.float32),
            "evt": (rng.uniform(0, 1, (frames, batch, 2)) < 0.2).astype(np.float32)}
