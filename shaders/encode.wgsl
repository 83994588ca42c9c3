// Sensor encoders (numpy_backend.encode_sensors) for one sensor group (one dispatch per
// group, in group order): the channel value of every channel neuron of the active brains
// becomes iext (current), pforce (poisson, gaussian with the Gaussian LUT) or force_once
// (event). ``enc`` holds one entry per neuron: neuron, index into sensor_values,
// preferred value bits (gaussian), brain.

struct SensorGroup {
    first: u32, count: u32, kind: u32, pad: u32,
    lo: f32, hi: f32, gain: f32, rate_dt: f32,
    inv_range: f32, inv_width: f32, pad2: f32, pad3: f32,
}
@group(1) @binding(0) var<uniform> sg: SensorGroup;

// numpy_backend.gauss_lookup: exp(-z^2/2) by linear interpolation, 0 for z >= 4
fn gauss_lookup(z: f32) -> f32 {
    var t = z * f32(GAUSS_PER_UNIT);
    let inside = t < f32(GAUSS_SIZE - 1u);
    if (!inside) { return 0.0; }
    let i = u32(floor(t));
    let frac = t - f32(i);
    let lo = gauss_lut[i];
    let hi = gauss_lut[i + 1u];
    return lo + nc((hi - lo) * frac);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = flat_index(wid, nwg, lid);
    if (e >= sg.count) { return; }
    NCZ = sg.pad;
    let q = enc[sg.first + e];
    if ((binfo[q.w * BSTRIDE + 4u] & 1u) == 0u) { return; }
    let n = q.x;
    var x = sensor_values[q.y];
    if (sg.kind == 3u) {  // event
        is_set(S_FORCE * N + n, select(0, 1, x >= 0.5));
        return;
    }
    x = select(sg.lo, x, x >= sg.lo);  // NaN -> lo
    x = select(sg.hi, x, x <= sg.hi);
    if (sg.kind == 0u) {  // current
        fs_set(S_IEXT * N + n, sg.gain * x);
    } else if (sg.kind == 1u) {  // poisson
        fs_set(S_PFORCE * N + n, ((x - sg.lo) * sg.inv_range) * sg.rate_dt);
    } else {  // gaussian
        let pref = bitcast<f32>(q.z);
        fs_set(S_PFORCE * N + n, sg.rate_dt * gauss_lookup(abs(x - pref) * sg.inv_width));
    }
}
