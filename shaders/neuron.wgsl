// One step of every neuron of the active brains (numpy_backend.step, parts 1-5 and 7):
// delivery from the delay ring, gap-junction input, integration (the row's model:
// shaders/models/<model>.wgsl), threshold / excitability / forced / burst spikes, effects of firing,
// actuator counts, and the compact spike lists (this step's list for propagation and
// the whole advance's (step, neuron) list for the host).
//
// ``neuron_step`` is one neuron's step ``k`` of the advance; the per-step kernel ``main``
// below runs it for every neuron, and the per-brain kernel (brain.wgsl) runs it inside
// its loop over the steps.

var<private> OUT_LIST: bool = true;  // append each spike to the host's (step, neuron) list
var<workgroup> wg_zk: vec2<u32>;  // main: ctl's zero and step, read once per workgroup

// main counts its step's spikes in ctl[CNT_AT] at step ctl[K_AT] (M_STEP and M_K; with FOLD the odd
// steps' kernel "neuron1" uses M_STEP1 and M_K1, see propagate.wgsl)

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // one invocation per workgroup loads the two ctl words every invocation needs (on an H100 two
    // atomic loads of one address per warp cost scale's neuron kernel 9 of its 56 us per step)
    if (lid == 0u && (ABL & 1u) == 0u) { wg_zk = vec2<u32>(atomicLoad(&ctl[M_ZERO]), atomicLoad(&ctl[K_AT])); }
    let zk = workgroupUniformLoad(&wg_zk);  // (ABL: timing only, SPIKEFORGE_GPU_PROFILE_ABLATE; 0 in real kernels)
    let n = flat_index(wid, nwg, lid);
    if (n >= N) { return; }
    NCZ = zk.x;
    let k = zk.y;
    if (neuron_step(n, k)) {
        // 6. (propagate.wgsl) needs this step's list
        let i = atomicAdd(&ctl[CNT_AT], 1u);
        step_spk[i] = n;
    }
}

// The state of one neuron that its step reads and writes (iext and pforce: read only). The
// per-brain kernel keeps it in registers across the steps of an advance when every invocation
// owns one neuron (REG_STATE); otherwise neuron_step loads and stores it every step.
struct NState {
    v: f32, ie: f32, ii: f32, w: f32, theta: f32, mod_: f32, iext: f32, pforce: f32,
    hold: i32, consec: i32, burst: i32, force: i32,
}

// An optional variable that neuron n's population does not keep is +0 for it, and its step
// computes +0 for it again (layout.STATE_KEPT_WHEN): its load is the constant and its store is
// left out (the same values, fewer memory accesses). Whether the layout stores the variable at
// all (STORED_<NAME>) is known when the kernel is built; whether n's parameter set p keeps it,
// from its keep mask (keeps, params.wgsl), the same for a whole population.

fn opt_f(stored: bool, p: u32, bit: u32, i: u32) -> f32 {
    if (stored && keeps(p, bit)) { return fs_get(i); }
    return 0.0;
}

fn opt_i(stored: bool, p: u32, bit: u32, i: u32) -> i32 {
    if (stored && keeps(p, bit)) { return is_get(i); }
    return 0;
}

// The state of neuron n of parameter set p.
fn state_load(n: u32, p: u32) -> NState {
    return NState(fs_get(S_V * N + n), fs_get(S_IE * N + n), fs_get(S_II * N + n),
                  opt_f(STORED_W, p, KEPT_W, S_W * N + n), opt_f(STORED_THETA, p, KEPT_THETA, S_THETA * N + n),
                  opt_f(STORED_MOD, p, KEPT_MOD, S_MOD * N + n), fs_get(S_IEXT * N + n),
                  fs_get(S_PFORCE * N + n), is_get(S_HOLD * N + n), opt_i(STORED_CONSEC, p, KEPT_CONSEC, S_CONSEC * N + n),
                  opt_i(STORED_BURST, p, KEPT_BURST, S_BURST * N + n), is_get(S_FORCE * N + n));
}

// What a step writes (not iext, pforce) of neuron n of parameter set p.
fn state_store(n: u32, p: u32, s: NState) {
    fs_set(S_V * N + n, s.v);
    fs_set(S_IE * N + n, s.ie);
    fs_set(S_II * N + n, s.ii);
    if (STORED_W && keeps(p, KEPT_W)) { fs_set(S_W * N + n, s.w); }
    if (STORED_THETA && keeps(p, KEPT_THETA)) { fs_set(S_THETA * N + n, s.theta); }
    if (STORED_MOD && keeps(p, KEPT_MOD)) { fs_set(S_MOD * N + n, s.mod_); }
    is_set(S_HOLD * N + n, s.hold);
    if (STORED_CONSEC && keeps(p, KEPT_CONSEC)) { is_set(S_CONSEC * N + n, s.consec); }
    if (STORED_BURST && keeps(p, KEPT_BURST)) { is_set(S_BURST * N + n, s.burst); }
    is_set(S_FORCE * N + n, s.force);
}

// What a neuron's step reads of the read-only tables: its ninfo row and its brain's key,
// step (low, high word) and ring slot at the advance's start. Loaded once per advance with
// REG_STATE, else every step.
struct NCtx { info: vec4<u32>, key: u32, lo0: u32, hi0: u32, slot0: u32, }

fn ctx_load(n: u32) -> NCtx {
    let info = ninfo[n];            // pid, brain, actuator slot (i32 bits), local index
    let b = info.y;
    return NCtx(info, binfo[b * BSTRIDE], binfo[b * BSTRIDE + 1u], binfo[b * BSTRIDE + 2u], binfo[b * BSTRIDE + 3u]);
}

// Step ``k`` of neuron ``n`` (NCZ must be set); true if it spiked (then its actuator count
// and the host's (step, neuron) list are updated here). State from and to memory.
fn neuron_step(n: u32, k: u32) -> bool {
    let c = ctx_load(n);
    if ((binfo[c.info.y * BSTRIDE + 4u] & 1u) == 0u) { return false; }  // brain not active this advance
    var st = state_load(n, c.info.x);
    var spike = false;
    if ((ABL & 8u) == 0u) { spike = neuron_core(n, k, c, &st); }
    if ((ABL & 4u) == 0u) { state_store(n, c.info.x, st); }
    return spike;
}

// Channel ch of ring slot ``slot`` for neuron n, as a current (cleared there). A channel that no
// projection of the layout feeds (CH_USED, wgpu_backend.kernel_features) only ever holds 0: it is not
// read, and its 0 is a run-time +0 (NCZ) that no compiler can fold into what adds it.
fn ring_channel(ch: u32, slot: u32, n: u32) -> f32 {
    if (((CH_USED >> ch) & 1u) == 0u) { return bitcast<f32>(NCZ); }
    return f32(ring_in((slot * 3u + ch) * N + n)) * FIXED_INV;
}

// Step ``k`` of neuron ``n`` of an active brain on the state ``st`` (its iext/pforce kept).
fn neuron_core(n: u32, k: u32, c: NCtx, st: ptr<function, NState>) -> bool {
    let info = c.info;
    let b = info.y;
    let p = info.x;
    let key = c.key;
    let lo0 = c.lo0;
    let lo = lo0 + k;
    let hi = c.hi0 + select(0u, 1u, lo < lo0);
    let slot = (c.slot0 + k) % DEPTH;

    // 1. delivery: this step's ring slot -> currents and modulator; clear the slot
    //    (ring_in: the global ring, or the brain kernel's copy in workgroup memory)
    let xe = ring_channel(0u, slot, n);
    let xi = ring_channel(1u, slot, n);
    let xm = ring_channel(2u, slot, n);
    let mod_ = nc((*st).mod_ * pf(p, F_PMOD)) + xm;
    let gain = 1.0 + nc(pf(p, F_MODGAIN) * mod_);
    var ie = (*st).ie + nc(xe * gain);
    var ii = (*st).ii + xi;
    // USE_POIS, USE_NOISE, USE_EXCIT, MODELS_USED (wgpu_backend.kernel_features): whether any parameter
    // row of the layout takes a branch; a kernel leaves out the ones none can take
    if (USE_POIS) {
        let ppois = pf(p, F_POIS_P);
        if (ppois > 0.0) {  // background Poisson drive: an event adds POIS_W to ie
            if (uniform01(brain_stream(key, lo, hi, PURPOSE_POISSON), info.w) < ppois) { ie = ie + pf(p, F_POIS_W); }
        }
    }

    // 2. gap junctions (accumulated by gap.wgsl from v at the start of the step)
    var igap: f32 = 0.0;
    if (HAS_GAP) {
        igap = f32(atomicExchange(&gap_acc[n], 0)) * FIXED_INV;
    }

    // 3. integration (held neurons keep v)
    let v0 = (*st).v;
    let w0 = (*st).w;
    var theta = (*st).theta;
    var hold = (*st).hold;
    let held = hold > 0;
    var drive = (pf(p, F_BIAS) + (*st).iext) + igap;
    let nkind = select(0, pi(p, I_NOISE), USE_NOISE);
    if (nkind != 0) {  // background noise current, this step only (numpy_backend.background_noise)
        let pre_n = brain_stream(key, lo, hi, PURPOSE_NOISE);
        var r = uniform01(pre_n, info.w);
        if (nkind == NOISE_GAUSSIAN) {
            var sum = uniform01(mix32(pre_n ^ 0u), info.w);
            for (var k = 1u; k < GAUSS_DRAWS; k = k + 1u) { sum = sum + uniform01(mix32(pre_n ^ k), info.w); }
            r = sum - f32(GAUSS_DRAWS / 2u);
        }
        drive = drive + (pf(p, F_NOISE_A) + nc(pf(p, F_NOISE_B) * r));
    }
    // the row's model (shaders/models/<model>.wgsl, dispatched in the generated models.wgsl)
    let vw = integrate(pi(p, I_MODEL), p, v0, w0, ie, ii, drive, held);
    var v = vw.x;
    var w = vw.y;
    ie = ie * pf(p, F_PEE);
    ii = ii * pf(p, F_PII);
    theta = theta * pf(p, F_PTH);
    if (held) { hold = hold - 1; }

    // 4. threshold, excitability, forced and burst spikes
    let can = !held;
    let thr = pf(p, F_VTHRESH) + theta;
    var above = can && (v >= thr);
    let excit = select(1.0, pf(p, F_EXCIT), USE_EXCIT);
    if (above && !(excit >= 1.0)) {
        let pre_e = brain_stream(key, lo, hi, PURPOSE_EXCITABILITY);
        above = uniform01(pre_e, info.w) < excit;
    }
    var forced = (*st).force != 0;
    let pforce = (*st).pforce;
    if (!forced && pforce > 0.0) {
        let pre_f = brain_stream(key, lo, hi, PURPOSE_FORCE);
        forced = uniform01(pre_f, info.w) < pforce;
    }
    forced = forced && can;
    let fire = above || forced;
    var burst = (*st).burst;
    let burst_spike = !fire && (burst > 0);
    if (burst_spike) { burst = burst - 1; }
    let spike = fire || burst_spike;

    // 5. effects of firing
    var consec = (*st).consec;
    if (fire) {
        let bmax = f32(pi(p, I_BURST_MAX));
        var qb = floor((v - thr) * pf(p, F_BURST_INV));
        if (qb > bmax) { qb = bmax; }
        var nb: i32 = 0;
        if (qb >= 1.0) { nb = i32(qb); }
        burst = nb;
        v = pf(p, F_VRESET);
        w = w + pf(p, F_WJUMP);
        theta = theta + pf(p, F_THJUMP);
        consec = consec + 1;
        let climit = pi(p, I_CONSEC);
        let hit = (climit > 0) && (consec >= climit);
        hold = select(pi(p, I_REF_STEPS), pi(p, I_SNOOZE_STEPS), hit);
        if (hit) { consec = 0; }
    } else if (can) {
        consec = 0;
    }
    // the count is kept only under a consecutive-fire limit (semantics.md)
    if (pi(p, I_CONSEC) <= 0) { consec = (*st).consec; }

    // 7b. learning P2-P4 (engine/plasticity.py): modulator sum, trace decay, homeostasis; the
    //     traces only where the population keeps them (a learning circuit's: nothing else reads them)
    if (PLASTIC) {
        if (keeps(p, KEPT_XPRE)) {
            if (ANY_RSTDP) {
                fs_set(S_MSUM * N + n, fs_get(S_MSUM * N + n) + mod_);
            }
            fs_set(S_XPRE * N + n, fs_get(S_XPRE * N + n) * pp(p, PP_DPRE));
            fs_set(S_XPOST * N + n, fs_get(S_XPOST * N + n) * pp(p, PP_DPOST));
            // P6 early half (equal_time): this spike's trace increment before P5 reads it
            if (spike && pp(p, PP_PREEARLY) != 0.0) {
                let x = fs_get(S_XPRE * N + n) + pp(p, PP_PREINC);
                fs_set(S_XPRE * N + n, select(x, pp(p, PP_PREMAX), x > pp(p, PP_PREMAX)));
            }
            if (spike && pp(p, PP_POSTEARLY) != 0.0) {
                let x = fs_get(S_XPOST * N + n) + pp(p, PP_POSTINC);
                fs_set(S_XPOST * N + n, select(x, pp(p, PP_POSTMAX), x > pp(p, PP_POSTMAX)));
            }
        }
        let eta = pp(p, PP_HETA);
        if ((binfo[b * BSTRIDE + 4u] & 2u) != 0u && eta > 0.0) {
            var t = theta - pp(p, PP_HDROP);
            if (spike) { t = t + eta; }
            theta = t;
        }
    }

    (*st).v = v;
    (*st).ie = ie;
    (*st).ii = ii;
    (*st).w = w;
    (*st).theta = theta;
    (*st).mod_ = mod_;
    (*st).hold = hold;
    (*st).consec = consec;
    (*st).burst = burst;
    (*st).force = 0;

    if (spike) {
        // 7. actuator counts; host list
        let a = bitcast<i32>(info.z);
        if (a >= 0) { atomicAdd(&act_counts[u32(a)], 1); }
        if (OUT_LIST) {  // (the per-brain kernel's sorted list: order.wgsl)
            let j = atomicAdd(&ctl[M_OUT], 1u);
            if (j < atomicLoad(&ctl[M_CAP])) {
                out_spk[2u * j] = k;
                out_spk[2u * j + 1u] = n;
            }
        }
    }
    return spike;
}
