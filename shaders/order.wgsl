// The host's spike list of an advance of the per-brain kernel's WG_MASK path, sorted by
// (step, neuron) on the device (brain.wgsl's mask_step left, per (step, brain), the spike mask
// words and the count in out_spk, and each step's total in ctl[M_T0 + step]). Workgroup (k, g)
// places step k's spikes of brains g*256 .. g*256+255, one brain per invocation: after the
// spikes of the steps before k and of the brains before its own at step k (sums over the
// invocations, then an inclusive prefix sum across the workgroup); a brain's spikes follow its
// mask bits, i.e. neuron order. Brains are contiguous neuron ranges in layout order, so this is
// the (step, neuron) order. Entries past ctl[M_CAP] are dropped (truncated in sorted order).

const OWG: u32 = 256u;
var<workgroup> wu: u32;
var<workgroup> wsum: array<u32, 256>;
var<workgroup> wpart: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (lid == 0u) { wu = ctl[M_NSTEPS]; }
    let steps = workgroupUniformLoad(&wu);
    let k = wid.x;
    if (k >= steps) { return; }
    let c0 = wid.y * OWG;  // this workgroup's first brain
    let cnt0 = steps * N_BRAINS * MW + k * N_BRAINS;  // the counts of step k
    var part = 0u;  // this invocation's share of the spikes before brain c0 at step k
    for (var j = lid; j < k; j = j + OWG) { part = part + ctl[M_T0 + j]; }
    for (var j = lid; j < c0; j = j + OWG) { part = part + out_spk[cnt0 + j]; }
    let b = c0 + lid;
    var mine = 0u;
    if (b < N_BRAINS) { mine = out_spk[cnt0 + b]; }
    wsum[lid] = mine;
    wpart[lid] = part;
    workgroupBarrier();
    for (var d = 1u; d < OWG; d = d << 1u) {  // inclusive scans (Hillis-Steele)
        var x = 0u;
        var y = 0u;
        if (lid >= d) {
            x = wsum[lid - d];
            y = wpart[lid - d];
        }
        workgroupBarrier();
        wsum[lid] = wsum[lid] + x;
        wpart[lid] = wpart[lid] + y;
        workgroupBarrier();
    }
    if (mine == 0u) { return; }
    let cap = ctl[M_CAP];
    var pos = wpart[OWG - 1u] + wsum[lid] - mine;
    let n0 = bstart[b];
    let m0 = (k * N_BRAINS + b) * MW;
    for (var w = 0u; w < MW; w = w + 1u) {
        var bits = out_spk[m0 + w];
        while (bits != 0u) {
            if (pos < cap) { ord[pos] = n0 + w * 32u + firstTrailingBit(bits); }
            pos = pos + 1u;
            bits = bits & (bits - 1u);
        }
    }
}
