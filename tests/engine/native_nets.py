"""Test networks shared by the native-backend tests: every feature of the step."""

from __future__ import annotations

from spikeforge.model import (
    LIF,
    AdaptiveLIF,
    Circuit,
    FixedInDegree,
    FixedProbability,
    Izhikevich,
    ModulatedLIF,
    Normal,
    OneToOne,
    Uniform,
)


def lif_net() -> Circuit:
    c = Circuit("lif")
    c.add_population("e", 40, LIF(bias=17.0, t_ref=2.0), v_init=(-65.0, -50.0))
    c.add_population("i", 10, LIF(tau_m=10.0, bias=16.0), v_init=(-65.0, -50.0))
    c.connect("e", "e", FixedProbability(0.2), weight=Uniform(0.5, 3.0), delay=(1, 4))
    c.connect("e", "i", FixedInDegree(8), weight=2.0, delay=2)
    c.connect("i", "e", FixedProbability(0.3), weight=Normal(-4.0, 1.0), delay=1)
    return c


def feature_net() -> Circuit:
    """Adaptation, modulation, bursts, habituation, excitability, snooze, gap junctions, Izhikevich, organs."""
    c = Circuit("features")
    c.add_population("sense", 12, LIF(bias=0.0, t_ref=1.0))
    c.add_population("cur", 6, LIF(bias=2.0))
    c.add_population("gauss", 10, LIF())
    c.add_population("evt", 4, LIF())
    c.add_population("adapt", 20, AdaptiveLIF(bias=18.0, b=1.5, tau_w=50.0), v_init=(-70.0, -52.0))
    c.add_population("modl", 16, ModulatedLIF(bias=16.0, burst_overshoot=0.5, burst_max=3, habituation=0.5,
                                              consec_limit=3, snooze=4.0, excitability=0.7),
                     v_init=(-65.0, -50.0))
    c.add_population("izh", 12, Izhikevich(bias=8.0), v_init=(-70.0, -60.0))
    c.add_population("out", 9, LIF(bias=5.0))
    c.connect("sense", "adapt", FixedProbability(0.5), weight=Uniform(1.0, 4.0), delay=(1, 3))
    c.connect("cur", "modl", FixedProbability(0.5), weight=3.0, delay=1)
    c.connect("gauss", "izh", FixedProbability(0.5), weight=Uniform(2.0, 6.0), delay=2)
    c.connect("evt", "out", FixedProbability(0.7), weight=6.0, delay=1)
    c.connect("adapt", "modl", FixedProbability(0.3), weight=Uniform(0.5, 2.5), delay=(1, 5))
    c.connect("modl", "modl", FixedProbability(0.3), weight=0.4, kind="modulatory", delay=2)
    c.connect("izh", "out", FixedProbability(0.4), weight=Normal(3.0, 1.0), delay=(1, 3))
    c.connect("modl", "adapt", FixedProbability(0.3), weight=-3.0, delay=1)
    c.connect("adapt", "adapt", OneToOne(), weight=0.05, kind="electrical")
    c.connect("izh", "izh", FixedProbability(0.2), weight=0.1, kind="electrical")
    c.add_sensor("eyes", "sense", channels=3, kind="poisson", low=0.0, high=1.0, max_rate=300.0)
    c.add_sensor("push", "cur", channels=2, kind="current", low=-1.0, high=1.0, gain=30.0)
    c.add_sensor("angle", "gauss", channels=2, kind="gaussian", low=-1.0, high=1.0, max_rate=400.0, sigma=0.2)
    c.add_sensor("bump", "evt", channels=4, kind="event")
    c.add_actuator("speed", "out", channels=3, kind="rate")
    c.add_actuator("dir", "modl", channels=4, kind="population_vector", low=-1.0, high=1.0)
    c.add_actuator("pick", "adapt", channels=5, kind="wta")
    return c


def static_net() -> Circuit:
    """Every model without gap junctions or a modulator channel: each takes its lean vectorized loop
    (Izhikevich, adaptive LIF and quadratic IF keep w; plain LIF drops it), with draws and events."""
    from spikeforge.model.neurons import QuadraticIF

    c = Circuit("static")
    c.add_population("sense", 12, LIF(bias=0.0, t_ref=1.0))
    c.add_population("evt", 4, LIF())
    c.add_population("lif", 16, LIF(bias=16.0, excitability=0.8), v_init=(-65.0, -50.0))
    c.add_population("adapt", 16, AdaptiveLIF(bias=18.0, b=1.5, tau_w=50.0, consec_limit=2, snooze=3.0),
                     v_init=(-70.0, -52.0))
    c.add_population("izh", 16, Izhikevich(bias=8.0), v_init=(-70.0, -60.0))
    c.add_population("fs", 8, Izhikevich.preset("FS", bias=5.0), v_init=(-70.0, -60.0))
    c.add_population("qif", 16, QuadraticIF(bias=3.5, excitability=0.7), v_init=(-66.0, -45.0))
    c.connect("sense", "izh", FixedProbability(0.5), weight=Uniform(2.0, 6.0), delay=(1, 3))
    c.connect("evt", "qif", FixedProbability(0.7), weight=6.0, delay=1)
    c.connect("izh", "fs", FixedProbability(0.4), weight=Normal(3.0, 1.0), delay=(1, 3))
    c.connect("fs", "izh", FixedProbability(0.4), weight=-4.0, delay=1)
    c.connect("lif", "adapt", FixedProbability(0.3), weight=Uniform(0.5, 2.5), delay=(1, 5))
    c.connect("adapt", "qif", FixedProbability(0.3), weight=Uniform(0.5, 2.5), delay=(1, 2))
    c.connect("qif", "lif", FixedProbability(0.3), weight=-2.0, delay=1)
    c.add_sensor("eyes", "sense", channels=3, kind="poisson", low=0.0, high=1.0, max_rate=300.0)
    c.add_sensor("bump", "evt", channels=4, kind="event")
    c.add_actuator("pick", "adapt", channels=4, kind="wta")
    return c


def all_nets() -> list[Circuit]:
    return [lif_net(), feature_net(), learning_net(), static_net(), background_net(), reward_net()]


def learning_net() -> Circuit:
    """STDP (hard and soft bounds), reward-STDP with eligibility, modulated Hebbian, homeostasis."""
    from spikeforge.model.plasticity import STDP, Homeostasis, ModulatedHebbian, RewardSTDP

    c = Circuit("learner")
    c.add_population("inp", 16, LIF(bias=0.0, t_ref=1.0))
    c.add_population("hid", 20, LIF(bias=12.0), v_init=(-65.0, -50.0))
    c.add_population("mot", 8, ModulatedLIF(bias=14.0, burst_overshoot=0.0), v_init=(-65.0, -50.0))
    c.add_population("ctx", 6, LIF(bias=18.0))
    c.connect("inp", "hid", FixedProbability(0.5), weight=Uniform(0.5, 2.0), delay=(1, 3),
              plasticity=STDP(a_plus=0.05, a_minus=0.06, w_min=0.0, w_max=4.0,
                              homeostasis=Homeostasis(target_rate=10.0, eta=0.2)))
    c.connect("hid", "hid", FixedProbability(0.2), weight=Uniform(0.1, 1.0), delay=2,
              plasticity=STDP(a_plus=0.02, a_minus=0.02, w_min=0.0, w_max=2.0, soft_bound=True, lr=0.5))
    c.connect("hid", "mot", FixedProbability(0.6), weight=Uniform(0.5, 3.0), delay=1,
              plasticity=RewardSTDP(w_min=0.0, w_max=5.0, update_every=5, lr=0.05, modulator_weight=0.3,
                                    tau_dopamine=50.0))
    c.connect("ctx", "mot", FixedProbability(0.5), weight=0.3, kind="modulatory", delay=1)
    c.connect("ctx", "hid", FixedProbability(0.5), weight=Uniform(0.2, 1.0), delay=1,
              plasticity=ModulatedHebbian(lr=0.05, w_min=0.0, w_max=3.0))
    c.add_sensor("eyes", "inp", channels=4, kind="poisson", max_rate=200.0)
    c.add_actuator("act", "mot", channels=2, kind="wta")
    return c


def background_net() -> Circuit:
    """Background input inside the step: uniform and gaussian noise currents, Poisson drive
    (alone and with noise), on LIF, Izhikevich and adaptive LIF, with plain recurrent synapses."""
    from spikeforge.model import Background

    c = Circuit("background")
    c.add_population("uni", 12, LIF(bias=10.0), v_init=(-65.0, -55.0),
                     background=Background(noise="uniform", low=-5.0, high=12.0))
    c.add_population("gau", 12, LIF(bias=12.0, t_ref=1.0), background=Background(noise="gaussian", mean=2.0, std=6.0))
    c.add_population("poi", 10, Izhikevich(tau_e=1.0), v_init=(-70.0, -60.0),
                     background=Background(rate=40.0, weight=25.0))
    c.add_population("both", 10, AdaptiveLIF(bias=8.0, b=1.0, tau_w=40.0),
                     background=Background(noise="gaussian", mean=0.0, std=4.0, rate=100.0, weight=6.0))
    c.add_population("quiet", 6, LIF(bias=5.0))
    c.connect("uni", "poi", FixedProbability(0.4), weight=Uniform(2.0, 5.0), delay=(1, 3))
    c.connect("poi", "both", FixedProbability(0.5), weight=3.0, delay=1)
    c.connect("gau", "quiet", FixedProbability(0.5), weight=4.0, delay=2)
    c.connect("both", "uni", FixedProbability(0.3), weight=-2.0, delay=1)
    return c


def reward_net() -> Circuit:
    """Reward-STDP as in the distal-reward bench: Izhikevich cells with a uniform noise current,
    neurons whose rows are all reward-STDP with hard bounds under two projections of the same
    rule (the kernel's one-range P5a and P5b paths), a neuron group mixing them with a rule of
    another a_minus and with plain rows (the row path), inhibitory rows without learning."""
    from spikeforge.model import Background
    from spikeforge.model.plasticity import RewardSTDP

    def rule(a_minus: float = 1.5) -> RewardSTDP:
        return RewardSTDP(a_plus=1.0, a_minus=a_minus, pairing="nearest", trace_increment=0.1, w_min=0.0,
                          w_max=4.0, tau_c=100.0, tau_dopamine=20.0, update_every=3, lr=0.1,
                          dopamine_baseline=0.002)

    bg = Background(noise="uniform", low=-4.0, high=16.0)
    c = Circuit("reward")
    c.add_population("exc", 24, Izhikevich.preset("RS", tau_e=0.001, tau_i=0.001), v_init=-65.0, background=bg)
    c.add_population("mix", 8, Izhikevich.preset("RS", tau_e=0.001, tau_i=0.001), v_init=-65.0, background=bg)
    c.add_population("inh", 8, Izhikevich.preset("FS", tau_e=0.001, tau_i=0.001), v_init=-65.0, background=bg)
    c.connect("exc", "exc", FixedProbability(0.3), weight=Uniform(4.0, 9.0), delay=(1, 6), plasticity=rule())
    c.connect("exc", "inh", FixedProbability(0.3), weight=Uniform(4.0, 9.0), delay=(1, 6), plasticity=rule())
    c.connect("mix", "exc", FixedProbability(0.3), weight=6.0, delay=(1, 4), plasticity=rule(0.5))
    c.connect("mix", "mix", FixedProbability(0.3), weight=Uniform(4.0, 9.0), delay=2, plasticity=rule())
    c.connect("mix", "inh", FixedProbability(0.3), weight=5.0, delay=1)
    c.connect("inh", "exc", FixedProbability(0.4), weight=-3.0, delay=1)
    return c


def stdp_net() -> Circuit:
    """Pair STDP as in the learning-cost crowd: exc and inh LIF whose inputs are all hard-bound
    STDP with each projection's own bounds (exc [0, 4], inh [-6, 0]; the kernel's one-loop P5b
    class), amplitudes that drive weights onto both bounds, depression at emission and at
    delivery over several delays; pre neurons whose rows mix hard and soft STDP and soft
    reward-STDP (the row path of P5a with the post from the ring offsets)."""
    from spikeforge.model.plasticity import STDP, RewardSTDP

    def hard(lo: float, hi: float, at: str = "emission", a_minus: float = 0.3, a_plus: float = 0.4) -> STDP:
        return STDP(a_plus=a_plus, a_minus=a_minus, w_min=lo, w_max=hi, depress_at=at)

    def soft(at: str = "emission") -> STDP:
        return STDP(a_plus=0.05, a_minus=0.06, w_min=0.0, w_max=2.0, soft_bound=True, depress_at=at)

    c = Circuit("stdp")
    c.add_population("exc", 24, LIF(bias=17.0, t_ref=2.0), v_init=(-65.0, -50.0))
    c.add_population("inh", 8, LIF(tau_m=10.0, bias=16.0), v_init=(-65.0, -50.0))
    c.add_population("soft", 8, LIF(bias=16.5), v_init=(-65.0, -50.0))
    c.add_population("rew", 6, LIF(bias=15.0), v_init=(-65.0, -50.0))
    c.connect("exc", "exc", FixedProbability(0.3), weight=Uniform(1.0, 3.5), delay=(1, 4), plasticity=hard(0.0, 4.0))
    c.connect("exc", "inh", FixedInDegree(6), weight=2.0, delay=(1, 5), plasticity=hard(0.0, 4.0, "delivery"))
    c.connect("inh", "exc", FixedProbability(0.3), weight=Uniform(-5.0, -1.0), delay=1,
              plasticity=hard(-6.0, 0.0, a_minus=1.5))
    c.connect("inh", "inh", FixedProbability(0.4), weight=Uniform(-5.0, -1.0), delay=(1, 3),
              plasticity=hard(-6.0, 0.0, "delivery", 0.1, 1.5))
    c.connect("exc", "soft", FixedProbability(0.4), weight=Uniform(0.5, 1.5), delay=(1, 2), plasticity=soft())
    c.connect("soft", "soft", FixedProbability(0.4), weight=Uniform(0.5, 1.5), delay=(1, 3),
              plasticity=soft("delivery"))
    c.connect("soft", "rew", FixedProbability(0.6), weight=Uniform(0.5, 3.0), delay=(1, 2),
              plasticity=RewardSTDP(w_min=0.0, w_max=5.0, soft_bound=True, update_every=4, lr=0.05,
                                    tau_dopamine=50.0))
    return c
