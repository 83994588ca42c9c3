// The per-brain kernel (brain.wgsl) of a layout that does not learn: brain_learn.wgsl's entry
// points, empty (the same signatures; wgpu_backend.py appends this file instead of that one).
struct Dep { on: bool }
fn learn_dopamine(b: u32, lid: u32) {}
fn dep_row(r: u32, dc: u32, learns: bool) -> Dep { return Dep(false); }
fn dep_syn(y: u32, sw: vec2<u32>, d: Dep) {}
fn learn_after(b: u32, n0: u32, n1: u32, count: u32, lid: u32, learns: bool, due: bool) {}
