// The per-brain kernel: one workgroup per brain runs ALL steps of an advance in one
// dispatch (brains never touch each other: synapses stay inside a brain). Per step:
// every neuron of the brain (neuron.wgsl's neuron_step, BRAIN_WG invocations striding over
// the brain's neurons), a barrier, propagation of the brain's spikes of the step into its
// delay ring (the workgroup's invocations share each row's synapses), a barrier.
// Used for layouts without gap junctions whose brains are at most BRAIN_MAX_NEURONS
// neurons (wgpu_backend.GpuBackend decides); the per-step kernels handle the rest. Same
// operations in the same order as neuron.wgsl + propagate.wgsl (+ the learning kernels),
// so it is exact in the same sense. Learning (brain_learn.wgsl, only in the kernel of a
// layout that learns; otherwise learn_* are empty stubs) adds P1 to the neuron phase, P5a
// to propagation and its other phases after propagation (learn_after).
//
// The brain's spike list of the step lives in step_spk[brain_start .. brain_start + count).
// When the brain's delay ring fits in workgroup memory (WG_RING, generated with
// ring_in/ring_out/wring_load/wring_store by wgpu_backend), it is loaded at the start of
// the advance, delivered and propagated there with workgroup atomics, and stored back.
// With REG_STATE each invocation's neurons' state (NPT neurons: n0 + lid + j * BRAIN_WG) stays in
// registers across the steps (neuron.wgsl's neuron_core on an NState; the same float operations
// in the same order). DEV_STEPS (with WG_MASK): invocation 0 moves the brain's clock words and
// ring slot in binfo on by the advance's steps at the end, so the host need not send them again.
//
// WG_MASK (with REG_STATE; wgpu_backend's ``wg_mask``): the step's spikes are bits of a mask in
// workgroup memory (one atomicOr per spike, double-buffered by the step's parity so no barrier
// resets it; a second word ``wany`` marks the mask words that have a bit, so an invocation reads
// only those), propagation walks the set bits in neuron order (no global step_spk list, no
// per-spike atomic counter, one barrier fewer per step). When ctl[M_ORD] is set the host list
// is not appended spike by spike either: per step the workgroup stores its mask words and its
// count (out_spk: masks of (step, brain) then counts) and adds the count to the step's total
// ctl[M_T0 + k] once; order.wgsl then writes the list sorted by (step, neuron).

var<workgroup> wg_count: atomic<u32>;
var<workgroup> wg_u: u32;
var<workgroup> wg_l: vec3<u32>;  // learn flag, brain_step % update_every, update_every
var<workgroup> wmask: array<atomic<u32>, WMASK_WORDS>;  // WG_MASK: spike bits of steps k even / odd
var<workgroup> wany: array<atomic<u32>, 2>;  // WG_MASK: which mask words have a bit, steps k even / odd
// WSPAN: each neuron's first row and synapse range (row_ptr[n], row_syn of it and of row_ptr[n + 1]),
// loaded once per advance so propagation starts from workgroup memory, not two global round trips
var<workgroup> wspan: array<vec3<u32>, WSPAN_N>;

@compute @workgroup_size(BRAIN_WG)
fn main_brain(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    NCZ = atomicLoad(&ctl[M_ZERO]);
    let b = wid.y * nwg.x + wid.x;
    if (b >= N_BRAINS) { return; }
    if (lid == 0u) { wg_u = binfo[b * BSTRIDE + 4u] & 1u; }
    let on = workgroupUniformLoad(&wg_u) != 0u;
    if (lid == 0u) { wg_u = atomicLoad(&ctl[M_NSTEPS]); }
    let steps = workgroupUniformLoad(&wg_u);
    if (lid == 0u) { wg_u = atomicLoad(&ctl[M_ORD]); }
    let ordm = WG_MASK && workgroupUniformLoad(&wg_u) != 0u;  // the sorted host list (order.wgsl)
    if (!on) {  // brain not active this advance (its counts for order.wgsl: none)
        if (ordm) {
            for (var k = lid; k < steps; k = k + BRAIN_WG) { out_spk[steps * N_BRAINS * MW + k * N_BRAINS + b] = 0u; }
        }
        return;
    }
    OUT_LIST = !ordm;
    let n0 = bstart[b];
    let n1 = bstart[b + 1u];
    let base0 = binfo[b * BSTRIDE + 3u];
    if (lid == 0u) { wg_l = vec3<u32>((binfo[b * BSTRIDE + 4u] >> 1u) & 1u, binfo[b * BSTRIDE + 5u],
                                      binfo[b * BSTRIDE + 6u]); }
    let lrn = workgroupUniformLoad(&wg_l);  // uniform: learn_after's barriers depend on it
    let learns = lrn.x != 0u;
    wring_load(n0, n1, lid);  // the brain's delay ring into workgroup memory (if it fits)
    if (WG_MASK && lid < 2u * MW) { atomicStore(&wmask[lid], 0u); }  // (no zero-init assumed)
    if (WG_MASK && lid < 2u) { atomicStore(&wany[lid], 0u); }
    if (WSPAN) {
        for (var l = lid; l < n1 - n0; l = l + BRAIN_WG) {
            let r0 = row_ptr[n0 + l];
            wspan[l] = vec3<u32>(r0, row_syn[r0], row_syn[row_ptr[n0 + l + 1u]]);
        }
    }
    // REG_STATE (every brain has at most NPT * BRAIN_WG neurons, no learning): each invocation
    // keeps the state of its neurons n0 + lid + j * BRAIN_WG (j < NPT; and their ninfo rows /
    // brain words) in registers for the whole advance (loaded here, stored at the end);
    // only the ring, the spike lists and the counters go through memory between steps
    let mine = n0 + lid;
    var st: array<NState, NPT>;
    var ctx: array<NCtx, NPT>;
    if (REG_STATE) {
        for (var j = 0u; j < NPT; j = j + 1u) {
            let m = mine + j * BRAIN_WG;
            if (m < n1) {
                ctx[j] = ctx_load(m);
                st[j] = state_load(m, ctx[j].info.x);
            }
        }
    }
    workgroupBarrier();
    for (var k = 0u; k < steps; k = k + 1u) {
        if (WG_MASK) {
            let cur = (k & 1u) * MW;
            for (var j = 0u; j < NPT; j = j + 1u) {
                let l = lid + j * BRAIN_WG;  // local index
                if (n0 + l < n1 && PROF_SKIP != 2u) {
                    var s1 = st[j];  // (naga 29 cannot pass &st[j] to a function)
                    let spiked = neuron_core(n0 + l, k, ctx[j], &s1);
                    st[j] = s1;
                    if (spiked) {
                        atomicOr(&wmask[cur + (l >> 5u)], 1u << (l & 31u));
                        atomicOr(&wany[k & 1u], 1u << (l >> 5u));
                    }
                }
            }
            mask_step(b, n0, k, steps, lid, ordm, base0);
            continue;
        }
        if (lid == 0u) { atomicStore(&wg_count, 0u); }
        workgroupBarrier();
        if (REG_STATE) {
            for (var j = 0u; j < NPT; j = j + 1u) {
                let m = mine + j * BRAIN_WG;
                if (m < n1) {
                    var s1 = st[j];
                    let spiked = neuron_core(m, k, ctx[j], &s1);
                    st[j] = s1;
                    if (spiked) { step_spk[n0 + atomicAdd(&wg_count, 1u)] = m; }
                }
            }
        } else {
            for (var n = n0 + lid; n < n1; n = n + BRAIN_WG) {
                if (neuron_step(n, k)) {
                    step_spk[n0 + atomicAdd(&wg_count, 1u)] = n;
                }
            }
        }
        learn_dopamine(b, lid);
        storageBarrier();
        workgroupBarrier();
        // 6. propagation (propagate.wgsl, one spike at a time, lanes over the synapses)
        let count = atomicLoad(&wg_count);
        let base = base0 + k;
        for (var s = 0u; s < count; s = s + 1u) {
            let src = step_spk[n0 + s];
            let r1 = row_ptr[src + 1u];
            for (var r = row_ptr[src]; r < r1; r = r + 1u) {
                let dc = row_dc[r];
                let slot = (base + (dc >> 4u)) % DEPTH;
                let cell = (slot * 3u + (dc & 3u)) * N;
                let dep = dep_row(r, dc, learns);  // P5a of this row (learning only)
                let y1 = row_syn[r + 1u];
                for (var y = row_syn[r] + lid; y < y1; y = y + BRAIN_WG) {
                    let sw = syn_at(y);
                    ring_out(cell + sw.x, quantize(bitcast<f32>(sw.y)));
                    if (dep.on) { dep_syn(y, sw, dep); }
                }
            }
        }
        storageBarrier();
        workgroupBarrier();
        if (PLASTIC) {
            // P7 is due when (brain_step + 1) % update_every == 0 (learn_rs.wgsl's due())
            let due = lrn.z != 0u && (lrn.y + k + 1u) % lrn.z == 0u;
            learn_after(b, n0, n1, count, lid, learns, due);
            storageBarrier();
            workgroupBarrier();
        }
    }
    if (REG_STATE) {
        for (var j = 0u; j < NPT; j = j + 1u) {
            if (mine + j * BRAIN_WG < n1) { state_store(mine + j * BRAIN_WG, ctx[j].info.x, st[j]); }
        }
    }
    wring_store(n0, n1, lid);
    if (DEV_STEPS && lid == 0u) {  // this brain's clock and ring slot after the advance (read only at its start)
        let lo0 = binfo[b * BSTRIDE + 1u];
        let lo = lo0 + steps;
        binfo[b * BSTRIDE + 1u] = lo;
        binfo[b * BSTRIDE + 2u] = binfo[b * BSTRIDE + 2u] + select(0u, 1u, lo < lo0);
        binfo[b * BSTRIDE + 3u] = (binfo[b * BSTRIDE + 3u] + steps) % DEPTH;
    }
}

// SPAN (SPIKEFORGE_GPU_SPAN=0 turns it off): a spike's synapses over all its rows at once; with
// WSPAN (SPIKEFORGE_GPU_WG_SPAN=0 turns it off) their range from workgroup memory.
// PROF_SKIP (SPIKEFORGE_GPU_PROFILE_SKIP, timing only, results WRONG): 1 skips propagation, 2 the
// neurons' steps (no spikes either), so tools/gpu/profile_advance.py can split a step's cost.
//
// One step of the WG_MASK path after the invocation's neuron steps (their spike bits set): a barrier, (ordm) the step's mask words and count for order.wgsl, propagation of the set bits
// in neuron order, a storage barrier. The mask of step k+1 is the one of step k-1, whose last
// reads were before step k-1's final barrier: it is cleared here, after this step's first one.
fn mask_step(b: u32, n0: u32, k: u32, steps: u32, lid: u32, ordm: bool, base0: u32) {
    let cur = (k & 1u) * MW;
    if (SB_AFTER_NEURONS) { storageBarrier(); }  // a delay of DEPTH steps adds to the slot just taken
    workgroupBarrier();
    if (lid < MW) { atomicStore(&wmask[MW - cur + lid], 0u); }
    if (lid == 0u) { atomicStore(&wany[1u - (k & 1u)], 0u); }
    if (ordm) {
        let cell = k * N_BRAINS + b;
        if (lid == 0u) {
            var count = 0u;
            for (var w = 0u; w < MW; w = w + 1u) { count = count + countOneBits(atomicLoad(&wmask[cur + w])); }
            out_spk[steps * N_BRAINS * MW + cell] = count;
            if (count > 0u) { atomicAdd(&ctl[M_T0 + k], count); }
        }
        if (lid < MW) { out_spk[cell * MW + lid] = atomicLoad(&wmask[cur + lid]); }
    }
    // 6. propagation (as in main_brain), the spikes in neuron order
    let base = base0 + k;
    var words = select(atomicLoad(&wany[k & 1u]), 0u, PROF_SKIP == 1u);  // the words with spikes
    while (words != 0u) {
        let w = firstTrailingBit(words);
        words = words & (words - 1u);
        var bits = atomicLoad(&wmask[cur + w]);
        while (bits != 0u) {
            let src = n0 + w * 32u + firstTrailingBit(bits);
            bits = bits & (bits - 1u);
            if (SPAN) {
                // the neuron's rows hold consecutive synapses: invocations over all of them at once,
                // each finding its row (a few cached loads) instead of one row after the other
                var sp: vec3<u32>;
                if (WSPAN) {
                    sp = wspan[src - n0];
                } else {
                    let r0 = row_ptr[src];
                    sp = vec3<u32>(r0, row_syn[r0], row_syn[row_ptr[src + 1u]]);
                }
                var r = sp.x;
                for (var y = sp.y + lid; y < sp.z; y = y + BRAIN_WG) {
                    while (row_syn[r + 1u] <= y) { r = r + 1u; }
                    let dc = row_dc[r];
                    let slot = (base + (dc >> 4u)) % DEPTH;
                    let sw = syn_at(y);
                    ring_out((slot * 3u + (dc & 3u)) * N + sw.x, quantize(bitcast<f32>(sw.y)));
                }
                continue;
            }
            let r1 = row_ptr[src + 1u];
            for (var r = row_ptr[src]; r < r1; r = r + 1u) {
                let dc = row_dc[r];
                let slot = (base + (dc >> 4u)) % DEPTH;
                let cell = (slot * 3u + (dc & 3u)) * N;
                let y1 = row_syn[r + 1u];
                for (var y = row_syn[r] + lid; y < y1; y = y + BRAIN_WG) {
                    let sw = syn_at(y);
                    ring_out(cell + sw.x, quantize(bitcast<f32>(sw.y)));
                }
            }
        }
    }
    if (!RING_IN_WG) { storageBarrier(); }  // (the ring in workgroup memory: nothing global is read back)
    workgroupBarrier();
}
