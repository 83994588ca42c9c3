// spikeforge WGSL kernels: shared helpers (prepended to every kernel).
//
// The wgpu backend (sdk/spikeforge/engine/wgpu_backend.py) prepends, in this order:
//   1. generated constants (N, DEPTH, chunk shifts, parameter column numbers from engine/params.py),
//   2. generated bindings and chunk accessors (syn_at, ring_take, ring_add),
//   3. this file, 4. the kernel file.
// Every float32 operation follows engine/numpy_backend.py in the same order; only
// +, -, *, floor, round and comparisons are used, and only u32 arithmetic in the RNG.
//
// No fused multiply-add: WGSL (and SPIR-V without NoContraction, which naga does not
// emit) lets a driver contract a*b+c into one fma, and NVIDIA's compiler does. Every
// product that feeds an addition is therefore written nc(a * b): its bits are XORed
// with NCZ, a zero the kernel loads from a buffer at run time (ctl[M_ZERO] or a uniform
// pad word), so no compiler can prove the XOR is a no-op and the product must be
// rounded to float32 on its own before the add (one integer op per product).

const FIXED_SCALE: f32 = 65536.0;
const FIXED_INV: f32 = 1.52587890625e-05;   // 2^-16
const FIXED_LIMIT: f32 = 2147483520.0;       // largest float32 below 2^31
const INV_2_24: f32 = 5.9604644775390625e-08; // 2^-24
const GOLDEN: u32 = 0x9E3779B9u;
const WG: u32 = 64u;

var<private> NCZ: u32 = 0u;  // set from a buffer by every kernel that calls nc()

// x rounded to float32 and kept out of any fused multiply-add (see above); the identity.
fn nc(x: f32) -> f32 {
    if (NO_CONTRACT) { return bitcast<f32>(bitcast<u32>(x) ^ NCZ); }
    return x;
}

// lowbias32 (Chris Wellons): a bijection on u32, same as engine/rng.py mix32.
fn mix32(x0: u32) -> u32 {
    var x = x0;
    x = x ^ (x >> 16u);
    x = x * 0x7FEB352Du;
    x = x ^ (x >> 15u);
    x = x * 0x846CA68Bu;
    x = x ^ (x >> 16u);
    return x;
}

// engine/rng.py brain_stream: mix(mix(mix(key ^ purpose*GOLDEN) ^ lo) ^ hi)
fn brain_stream(key: u32, lo: u32, hi: u32, purpose: u32) -> u32 {
    return mix32(mix32(mix32(key ^ (purpose * GOLDEN)) ^ lo) ^ hi);
}

// engine/rng.py uniform: (mix(prefix ^ i) >> 8) * 2^-24, in [0, 1)
fn uniform01(prefix: u32, local: u32) -> f32 {
    return f32(mix32(prefix ^ local) >> 8u) * INV_2_24;
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7FFFFFFFu) > 0x7F800000u;
}

// numpy_backend.quantize: NaN -> 0, clamp to +-FIXED_LIMIT, round half to even.
fn quantize(x: f32) -> i32 {
    var y = x * FIXED_SCALE;
    if (is_nan(y)) { y = 0.0; }
    if (y > FIXED_LIMIT) { y = FIXED_LIMIT; }
    if (y < -FIXED_LIMIT) { y = -FIXED_LIMIT; }
    return i32(round(y));
}

// Flat invocation index of a 2-D dispatch of WG-wide workgroups.
fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid;
}
