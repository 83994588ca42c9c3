"""Back-propagation through time is the derivative of the mirror's forward.

Checked against central finite differences in float64 (quantisation off), both on a
subthreshold network (a surrogate-free quantity: the membrane potentials) and on a
spiking one with the surrogate used in the forward as well (``smooth=True``), so the
backward pass is the exact derivative of the function computed. Then a short training
run must reduce its loss.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.model import LIF, AdaptiveLIF, Circuit, Uniform
from spikeforge.train import CircuitMirror, fit

torch.set_num_threads(1)


def tiny(strong: bool) -> Circuit:
    c = Circuit("tiny")
    c.add_population("in", 3, LIF())
    c.add_population("a", 3, LIF(tau_m=10.0, tau_e=4.0))
    c.add_population("b", 2, AdaptiveLIF(tau_m=15.0, tau_w=30.0, b=0.5))
    c.add_sensor("x", "in", channels=3, kind="current", low=0.0, high=1.0, gain=40.0 if strong else 5.0)
    c.connect("in", "a", weight=Uniform(25.0, 35.0) if strong else Uniform(0.5, 1.0), name="in->a")
    c.connect("a", "b", weight=Uniform(30.0, 40.0) if strong else Uniform(0.2, 0.5), delay=2, name="a->b")
    c.connect("b", "a", weight=-2.0 if strong else -0.3, name="b-|a")
    return c


def check(m: CircuitMirror, loss_of: object, params: list[torch.nn.Parameter], eps: float = 1e-6) -> None:
    loss = loss_of()  # type: ignore[operator]
    grads = torch.autograd.grad(loss, params)
    for p, g in zip(params, grads, strict=True):
        flat = p.data.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 4)):  # a few elements of each
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + eps
                up = float(loss_of())  # type: ignore[operator]
                flat[i] = old - eps
                down = float(loss_of())  # type: ignore[operator]
                flat[i] = old
            fd = (up - down) / (2 * eps)
            assert abs(fd - float(g.view(-1)[i])) <= 1e-5 * max(1.0, abs(fd)), (i, fd, float(g.view(-1)[i]))


def test_subthreshold_gradient_matches_finite_differences() -> None:
    m = CircuitMirror(tiny(strong=False), dt=0.001, dtype=torch.float64, quantize=False, train_thresholds=["b"])
    x = {"x": np.random.default_rng(0).uniform(0, 1, (4, 1, 3)).astype(np.float32)}
    wts = torch.linspace(0.5, 1.5, 40, dtype=torch.float64)

    def loss() -> torch.Tensor:
        out = m.run(x, 10, record_v=True)
        assert out.v is not None and float(out.spikes.detach().sum()) == 0.0  # no spikes: surrogate-free
        return (out.v * wts[:, None, None]).sum() / 1000.0

    check(m, loss, list(m.weights.values()))


@pytest.mark.parametrize(("surrogate", "detach_reset"), [("fast_sigmoid", True), ("arctan", False)])
def test_spiking_gradient_matches_the_surrogate(surrogate: str, detach_reset: bool) -> None:
    m = CircuitMirror(tiny(strong=True), dt=0.001, dtype=torch.float64, quantize=False, smooth=True,
                      surrogate=surrogate, slope=0.7, detach_reset=detach_reset, train_thresholds=["a"])
    x = {"x": np.random.default_rng(1).uniform(0.3, 1, (3, 1, 3)).astype(np.float32)}

    def loss() -> torch.Tensor:
        out = m.run(x, 20)
        return (out.spikes[:, :, 3:] ** 2).sum()

    with torch.no_grad():
        hard = CircuitMirror(tiny(strong=True), dt=0.001).run(x, 20).spikes
    assert float(hard[:, :, 3:6].sum()) > 3 and float(hard[:, :, 6:].sum()) > 1  # the network really spikes
    check(m, loss, [*m.weights.values(), *m.thresholds.values()])


def test_training_reduces_the_loss() -> None:
    c = Circuit("rates")
    c.add_population("in", 8, LIF())
    c.add_population("out", 4, LIF())
    c.add_sensor("x", "in", channels=2, kind="poisson", low=0.0, high=1.0, max_rate=200.0)
    c.add_actuator("r", "out", channels=2, kind="rate")
    c.connect("in", "out", weight=Uniform(1.0, 2.0))
    m = CircuitMirror(c, dt=0.001, seed=0, slope=0.5)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (6, 16, 2)).astype(np.float32)
    target = np.stack([80.0 * x[..., 0], 80.0 * x[..., 1]], axis=-1).astype(np.float32)  # Hz

    def loss_fn(out: object, tb: dict[str, torch.Tensor]) -> torch.Tensor:
        return ((out.actuators["r"] - tb["r"]) ** 2).mean() / 100.0  # type: ignore[attr-defined]

    res = fit(m, {"x": x}, {"r": target}, loss_fn, steps_per_frame=20, iterations=16, batch=8, window=3, lr=0.4)
    first, last = np.mean(res.losses[:4]), np.mean(res.losses[-4:])
    assert last < 0.5 * first, res.losses
