"""Every table the backends share, declared once (the generator writes the C and WGSL copies).

* per-neuron state variables: name, dtype, unit, meaning, and which C struct points at
  them (``NEURON_VARS``; ``NEURON_STATE`` is the name -> dtype view layouts and
  snapshots use);
* the parameter-table columns (:mod:`spikeforge.model.neurons.base` and each model's
  kernel) and the model codes (the kernel registry);
* organ kind codes (sensor and actuator kinds, in the order of
  :mod:`spikeforge.model.organs`);
* the learning tables (:mod:`spikeforge.engine.plasticity`) and RNG purposes
  (:mod:`spikeforge.engine.rng`).

``python -m spikeforge.engine.gen_tables`` writes them into
``native/src/spikeforge_abi.h`` (between ``GENERATED`` markers), ``native/src/models.h``,
``shaders/tables.wgsl`` and ``shaders/models.wgsl``; ``tests/engine/test_tables.py`` fails when a checked-in
copy differs from what the generator would write.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikeforge.model.organs import ACTUATOR_KINDS, SENSOR_KINDS


@dataclass(frozen=True)
class StateVar:
    """One per-neuron state array.

    Attributes
    ----------
    name : str
        Key in ``layout.neuron`` and snapshots; C field name.
    dtype : type
        numpy scalar type of the array.
    unit : str
        Physical unit ("" for counts and flags).
    doc : str
        Meaning.
    c_struct : str
        ``"net"`` (``sf_net``) or ``"plast"`` (``sf_plast``, learning state).
    kept_when : str
        When a population keeps the variable ("" for every population): a population that does
        not keep it would only ever hold its initial ``+0`` there, so no layout stores it unless
        some population of it keeps it (``layout.population_state``, ``layout.stored_state``), and
        the C kernels, the C API and brain files accept it absent (a NULL pointer, a missing record).
    """

    name: str
    dtype: type[np.generic]
    unit: str
    doc: str
    c_struct: str = "net"
    kept_when: str = ""


_LEARNS = ("its circuit learns (a projection has a plasticity rule other than Homeostasis, or "
           "Homeostasis with eta > 0)")
NEURON_VARS: tuple[StateVar, ...] = (
    StateVar("v", np.float32, "mV", "membrane potential"),
    StateVar("ie", np.float32, "mV", "excitatory synaptic current (as drive)"),
    StateVar("ii", np.float32, "mV", "inhibitory synaptic current (as drive)"),
    StateVar("w", np.float32, "mV", "adaptation current (AdaptiveLIF) / recovery u (Izhikevich)",
             kept_when="its model reads it (Izhikevich; an AdaptiveLIF with adaptation: tau_w coupling or b "
                       "nonzero; the model's kernel says, NeuronKernel.keeps_w)"),
    StateVar("theta", np.float32, "mV", "threshold offset (habituation, homeostasis)",
             kept_when="it habituates (ModulatedLIF habituation > 0) or a projection into it has Homeostasis "
                       "with eta > 0"),
    StateVar("mod", np.float32, "", "modulator level",
             kept_when="a modulatory projection or a ModulatedHebbian rule targets it"),
    StateVar("iext", np.float32, "mV", "external drive written by sensor encoders"),
    StateVar("pforce", np.float32, "", "per-step forced-spike probability written by encoders"),
    StateVar("hold", np.int32, "steps", "steps left in refractory / snooze"),
    StateVar("consec", np.int32, "spikes", "consecutive spikes (FEAGI)",
             kept_when="it has a consecutive-fire limit (consec_limit > 0)"),
    StateVar("burst", np.int32, "spikes", "extra burst spikes still to emit (FLUX)",
             kept_when="it bursts (ModulatedLIF burst_overshoot > 0 and burst_max > 0)"),
    StateVar("force_once", np.uint8, "", "one-shot forced spike (event sensors)"),
    StateVar("xpre", np.float32, "", "plasticity: pre-synaptic trace", "plast", _LEARNS),
    StateVar("xpost", np.float32, "", "plasticity: post-synaptic trace", "plast", _LEARNS),
    StateVar("msum", np.float32, "", "plasticity: modulator summed since the last reward-STDP update", "plast",
             _LEARNS),
    StateVar("shist", np.int32, "", "plasticity: spikes of the last 32 steps, bit k-1 = k steps ago", "plast",
             "its circuit has a projection whose STDP depresses at delivery (depress_at='delivery')"),
)
NEURON_STATE: dict[str, type[np.generic]] = {s.name: s.dtype for s in NEURON_VARS}
# the optional variables: stored per population, only for the neurons of populations that keep them
# (compact arrays, ``layout.Layout.state_slice``); bit j of a parameter set's keep mask
# (``Layout.pid_keeps``, uint16, C ``sf_net.pid_keeps``) is ``PER_POPULATION_STATE[j]``. The neuron
# step's (``c_struct`` "net") come first, then the learning state ("plast"), which every population of
# a learning circuit keeps: a brain keeps it whole or not at all, so the plasticity code finds an
# endpoint's element with one shift per brain (plasticity.h ``sf_lstate``: ``lsh``, ``hsh``).
PER_POPULATION_STATE: tuple[str, ...] = (
    *(s.name for s in NEURON_VARS if s.kept_when and s.c_struct == "net"),
    *(s.name for s in NEURON_VARS if s.kept_when and s.c_struct == "plast"))
KEEP_MASK_DTYPE = np.uint16  # Layout.pid_keeps: one bit per PER_POPULATION_STATE variable
if len(PER_POPULATION_STATE) > 8 * np.dtype(KEEP_MASK_DTYPE).itemsize:
    raise RuntimeError("tables: PER_POPULATION_STATE outgrew the keep mask (KEEP_MASK_DTYPE)")

C_TYPE: dict[type[np.generic], str] = {np.float32: "float", np.int32: "int32_t", np.uint8: "uint8_t",
                                       np.int64: "int64_t", np.uint32: "uint32_t"}

# dtype code of each record of a brain file (``spikeforge export``, read by the C API)
BRAIN_FILE_DTYPE: dict[type[np.generic], int] = {np.uint8: 1, np.int32: 2, np.uint32: 3, np.int64: 4, np.float32: 5,
                                                 np.float64: 6}

SENSOR_KIND_ID: dict[str, int] = {k: i for i, k in enumerate(SENSOR_KINDS)}
ACTUATOR_KIND_ID: dict[str, int] = {k: i for i, k in enumerate(ACTUATOR_KINDS)}
# C/WGSL constant suffix of each kind
SENSOR_KIND_CONST: dict[str, str] = {"current": "CURRENT", "poisson": "POISSON", "gaussian": "GAUSSIAN",
                                     "event": "EVENT"}
ACTUATOR_KIND_CONST: dict[str, str] = {"rate": "RATE", "population_vector": "POPVEC", "wta": "WTA"}

__all__ = ["ACTUATOR_KIND_CONST", "ACTUATOR_KIND_ID", "BRAIN_FILE_DTYPE", "C_TYPE", "NEURON_STATE", "NEURON_VARS",
           "SENSOR_KIND_CONST", "SENSOR_KIND_ID", "StateVar"]
