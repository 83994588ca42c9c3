"""Background input inside the step (model/background.py): genome round trip, validation,
and the statistics of what the step adds (numpy spec; backends are compared elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge import World
from spikeforge.model import LIF, Background, Circuit, GenomeError, dumps, loads


def test_genome_round_trip_keeps_background() -> None:
    c = Circuit("bg")
    c.add_population("a", 4, LIF(), background=Background(noise="gaussian", mean=1.5, std=2.0, rate=3.0,
                                                           weight=-0.5))
    c.add_population("b", 2, LIF())
    text = dumps(c)
    back = loads(text)
    assert back.populations[0].background == c.populations[0].background
    assert back.populations[1].background is None
    assert dumps(back) == text


@pytest.mark.parametrize("bg,field", [
    (Background(noise="pink"), "noise"),  # type: ignore[arg-type]
    (Background(std=-1.0), "std"),
    (Background(rate=-2.0), "rate"),
    (Background(noise="uniform", low=3.0, high=1.0), "low"),
    (Background(weight=float("nan")), "weight"),
])
def test_bad_background_names_the_field(bg: Background, field: str) -> None:
    c = Circuit("bg").add_population("a", 4, LIF(), background=bg)
    with pytest.raises(GenomeError, match=rf"populations\[0\]\.background\.{field}"):
        c.validate()


def test_genome_rejects_unknown_background_field() -> None:
    text = dumps(Circuit("bg").add_population("a", 1, LIF(), background=Background(rate=1.0, weight=1.0)))
    with pytest.raises(GenomeError, match=r"background\.colour: unknown field"):
        loads(text.replace('"rate"', '"colour"'))


def _noise(kind: int, a: float, b: float, steps: int = 200, n: int = 1000) -> np.ndarray:
    from spikeforge.engine.numpy_backend import background_noise

    keys = np.full(n, 12345, np.uint32)
    local = np.arange(n, dtype=np.uint32)
    out = [background_noise(keys, np.full(n, s, np.int64), local, np.full(n, kind, np.int32),
                            np.full(n, a, np.float32), np.full(n, b, np.float32)) for s in range(steps)]
    return np.concatenate(out).astype(np.float64)


def test_noise_statistics() -> None:
    u = _noise(1, -2.0, 8.0)
    assert u.min() >= -2.0 and u.max() < 6.0
    assert abs(u.mean() - 2.0) < 0.05 and abs(u.std() - 8.0 / np.sqrt(12.0)) < 0.05
    g = _noise(2, 1.0, 3.0)
    assert abs(g.mean() - 1.0) < 0.05 and abs(g.std() - 3.0) < 0.05
    assert abs(((g - g.mean()) ** 4).mean() / g.var() ** 2 - 2.9) < 0.1  # Irwin-Hall(12) kurtosis
    assert np.all(_noise(0, 5.0, 5.0, steps=3) == 0.0)


def test_constant_noise_is_a_bias() -> None:
    """A uniform noise of zero width adds exactly its value to the drive, like ``bias``."""
    runs = []
    for pop in (dict(model=LIF(bias=17.0)), dict(model=LIF(), background=Background(noise="uniform", low=17.0,
                                                                                      high=17.0))):
        w = World(dt=0.001, backend="numpy", seed=1)
        w.spawn(Circuit("c").add_population("p", 5, v_init=(-65.0, -55.0), **pop))  # type: ignore[arg-type]
        runs.append(w.step(200).neurons)
    assert runs[0].size > 10 and np.array_equal(runs[0], runs[1])


def test_poisson_drive_rate_and_weight() -> None:
    n, steps = 400, 500
    c = Circuit("probe").add_population("p", n, LIF(v_thresh=1e9), background=Background(rate=50.0, weight=2.5))
    w = World(dt=0.001, backend="numpy", seed=9)
    w.spawn(c)
    events = 0
    for _ in range(steps):
        ie0 = w.layout.neuron["ie"].copy()
        w.step(1)
        pee = w.layout.fparams[0, 8]  # F_PEE
        jump = w.layout.neuron["ie"] - ie0 * pee  # ie after decay minus the decayed old value
        hit = jump > 1.0
        events += int(hit.sum())
    rate = events / (n * steps * 0.001)
    assert abs(rate - 50.0) < 3.0


def test_same_seed_same_values_and_step_n_equals_n_steps() -> None:
    c = Circuit("bg").add_population("a", 30, LIF(bias=14.0), background=Background(noise="gaussian", std=8.0,
                                                                                       rate=20.0, weight=3.0))
    runs = []
    for chunks in ((50,), (10,) * 5):
        w = World(dt=0.001, backend="numpy", seed=2)
        w.spawn(c, count=2)
        spikes = [w.step(k).neurons for k in chunks]
        runs.append((np.concatenate(spikes), w.layout.neuron["v"].copy()))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert runs[0][0].size > 0
