// The host's spike list of an advance of the per-brain kernel's WG_MASK path, sorted by
// (step, neuron) on the device (brain.wgsl's mask_step left, per (step, brain), the spike mask
// words and the count in out_spk, and each step's total in ctl[M_T0 + step]). One workgroup per
// step: its list starts after the totals of the steps before it; inside the step, brains
// follow each other in order (an exclusive prefix sum of their counts over the workgroup) and
// a brain's spikes follow its mask bits, i.e. neuron order. Entries past ctl[M_CAP] are
// dropped (the list is truncated in sorted order).

const OWG: u32 = 256u;
var<workgroup> wu: u32;
var<workgroup> wsum: array<u32, 256>;
var<workgroup> wpart: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    if (lid == 0u) { wu = ctl[M_NSTEPS]; }
    let steps = workgroupUniformLoad(&wu);
    let k = wid.y * nwg.x + wid.x;
    if (k >= steps) { return; }
    var part = 0u;  // spikes of the steps before k (this invocation's share)
    for (var j = lid; j < k; j = j + OWG) { part = part + ctl[M_T0 + j]; }
    let per = (N_BRAINS + OWG - 1u) / OWG;
    let b0 = min(lid * per, N_BRAINS);
    let b1 = min(b0 + per, N_BRAINS);
    let cnt0 = steps * N_BRAINS * MW + k * N_BRAINS;
    var mine = 0u;  // spikes of this invocation's brains at step k
    for (var b = b0; b < b1; b = b + 1u) { mine = mine + out_spk[cnt0 + b]; }
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
    let cap = ctl[M_CAP];
    var pos = wpart[OWG - 1u] + wsum[lid] - mine;
    for (var b = b0; b < b1; b = b + 1u) {
        if (out_spk[cnt0 + b] == 0u) { continue; }
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
}
