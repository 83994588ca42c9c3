// A parameter set's row of the prm table (wgpu_backend: fparams, iparams, the plasticity per-pid
// row, the keep mask), for every kernel that binds prm.

fn pf(p: u32, c: u32) -> f32 { return bitcast<f32>(prm[p * PRM_STRIDE + c]); }
fn pi(p: u32, c: u32) -> i32 { return bitcast<i32>(prm[p * PRM_STRIDE + NF + c]); }
fn pp(p: u32, c: u32) -> f32 { return bitcast<f32>(prm[p * PRM_STRIDE + NF + NI + c]); }

// Whether parameter set p keeps the optional variable KEPT_<NAME> `bit` (Layout.pid_keeps): the
// same for a whole population.
fn keeps(p: u32, bit: u32) -> bool { return ((prm[p * PRM_STRIDE + PRM_KEEPS] >> bit) & 1u) != 0u; }
