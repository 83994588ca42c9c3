// Between the neuron pass and propagation of one step (a single invocation): hand this
// step's spike count to propagate.wgsl (and the learning kernels), size their indirect
// dispatch (one workgroup per spike or per 64 spikes, see propagate.wgsl; at most 65535),
// reset the per-step list, and move to the next step. Runs only where the step's counters are not
// folded into propagation (FOLD, see propagate.wgsl): layouts that learn on the per-step path, CPU
// adapters by default, and SPIKEFORGE_GPU_FOLD_PREP=0.

@compute @workgroup_size(1)
fn main() {
    let c = atomicLoad(&ctl[M_STEP]);
    let k = atomicLoad(&ctl[M_K]);
    atomicStore(&ctl[M_PCOUNT], c);
    atomicStore(&ctl[M_KPROP], k);
    atomicStore(&ctl[M_STEP], 0u);
    atomicStore(&ctl[M_K], k + 1u);
    indirect[0] = min(select((c + WG - 1u) / WG, c, WG_PER_SPIKE), 65535u);
    indirect[1] = 1u;
    indirect[2] = 1u;
}
