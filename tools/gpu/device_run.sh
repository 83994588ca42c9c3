#!/usr/bin/env bash
# Run on the device machine (NVIDIA H200, 16 cores) from the repository root:
#   bash tools/gpu/device_run.sh PART...     PART: diag | tests | nativetests | kept | cubaonly | servestallab | autocheck | learn | churn | gpuchurn | auto | bench | figures | cpu | serve | servestall | learncost | cluster | hostpath | gpucrowd | crowdgoals | crowdpin | crowdclock | crowdmodes | learnrules | servechurn | planes | autotests | crowdpace | kerneltimes | kernelpace | worldvsbackend | foldab | pattern | patternquick | gap | alltests
# carry .gl and .whl (tools/gpu/prepare.sh makes them; from a copied tree in .devwork/repo
# they are looked up two levels up too); `cluster` also carries .ray (tools/cluster/prepare_ray.sh). Results go to $OUT (or ./out-gpu).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-$PWD/out-gpu}; mkdir -p "$OUT"
gl=.gl; whl=.whl
[ -d "$gl" ] || gl=../../.gl
[ -d "$whl" ] || whl=../../.whl
for f in "$gl"/*.deb; do dpkg -x "$f" /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$whl"/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/sdk:$PWD
export XDG_RUNTIME_DIR=$(mktemp -d); chmod 700 "$XDG_RUNTIME_DIR"
unset CI
t0=$(date +%s)
python3 setup.py -q build_ext --inplace >"$OUT/build.log" 2>&1 || { echo "native build failed"; tail -20 "$OUT/build.log"; }
python3 -c 'import spikeforge.engine.wgpu_backend as G; print("adapter:", G.adapter_summary())'
nproc; nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader || true
echo "setup $(( $(date +%s) - t0 )) s"
sf="python3 -m spikeforge.cli"
for part in "$@"; do
  t1=$(date +%s)
  case $part in
    diag)
      timeout 200 python3 tools/gpu/diagnose.py ${DIAG_ARGS:---steps 200 --free-steps 2000} --out "$OUT/diag.jsonl" \
        | cut -c1-1500 ;;
    tests)
      timeout 360 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_step.py \
        tests/engine/test_gpu_learning.py tests/engine/test_gpu_fallback.py tests/engine/test_gpu_auto.py \
        tests/engine/test_gpu_bench.py tests/engine/test_gpu_tolerance.py tests/engine/test_gpu_brain_kernel.py \
        tests/engine/test_quadratic_if.py tests/runtime/test_churn_handles.py tests/runtime/test_world_masks.py \
        tests/runtime/test_relayout.py tests/runtime/test_learning_churn.py tests/engine/test_kept_state.py \
        tests/runtime/test_state_elision.py \
        2>&1 | tee "$OUT/tests.log" | tail -25 ;;
    nativetests)  # the native kernel's exactness on the host's widest ISA (the device's Xeon runs the AVX-512
                  # loops, which a build machine without AVX-512 never exercises), CPU tests only
      python3 -c 'from spikeforge.engine.native_backend import NativeBackend; import spikeforge.engine.native_backend as n; print("native ISA sets known:", n.ISAS)'
      timeout 300 python3 -m pytest -q -p no:cacheprovider -m "not gpu" tests/engine/test_native_exact.py \
        tests/engine/test_numpy_feagi.py tests/engine/test_quadratic_if.py tests/engine/test_numpy_cuba.py \
        tests/engine/test_kept_state.py \
        2>&1 | tee "$OUT/nativetests.log" | tail -15
      python3 -c 'from spikeforge.bench import cuba_circuit, make_world
w = make_world("native", 1, 0.0001, 1); w.spawn(cuba_circuit(4000)); w.step(1); print("isa used:", w.backend.isa)' ;;
    cubaonly)  # issue 14's CUBA goal alone: 3 runs beside Brian2 cpp_standalone, one idle core
      [ -d .bench ] && python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .bench/*.whl
      for r in 1 2 3; do
        timeout 200 taskset -c 2 $sf bench cuba --n 4000 --duration 1 --threads 1 --compare --ref-python python3 \
          --anchors .bench/anchors --json
      done 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/cubaonly.jsonl" | cut -c1-900
      timeout 100 taskset -c 2 env PYTHONPATH=$PYTHONPATH python3 tools/native/cuba_kernel_time.py --repeats 7 \
        | tee -a "$OUT/cubaonly.jsonl" ;;
    learn)  # GPU learning (issue 13): plain vs plastic step for each cost rule, learning in the
            # per-brain kernel (learn_fused 1) and on the per-step kernels (0); then exactness on the GPU
      {
      for rule in rstdp stdp stdp-delivery; do
        for lf in 1 0; do
          SPIKEFORGE_GPU_LEARN_FUSED=$lf timeout 100 $sf bench learning --backend gpu --json --parts cost \
            --crowd-brains 500 --frames 100 --rule $rule | sed "s/^{/{\"learn_fused\": $lf, /"
        done
      done
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/learn.jsonl" | cut -c1-400
      timeout 240 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_learning.py \
        tests/engine/test_gpu_brain_kernel.py 2>&1 | tee "$OUT/learn_tests.log" | tail -8 ;;
    profile)
      timeout 240 python3 tools/gpu/profile_advance.py ${PROFILE_ARGS:---brains 1000 --cuba 4000,40000} 2>&1 \
        | grep -v XDG_RUNTIME | tee "$OUT/profile.jsonl" ;;
    gpubench)  # the GPU side of the benches only
      {
      timeout 150 $sf bench scale --backend gpu --json --steps 50 --repeats 5
      timeout 120 $sf bench learning --backend gpu --json --parts cost --crowd-brains 500 --frames 100
      timeout 60 $sf bench cuba --backend gpu --json --duration 1.0
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/gpubench.jsonl" | cut -c1-600 ;;
    final)
      {
      for wg in 64 128 256; do
        SPIKEFORGE_GPU_BRAIN_WG=$wg timeout 60 $sf bench crowd --backend gpu --json --frames 200 --warmup 20 | sed "s/^{/{\"brain_wg\": $wg, /"
      done
      timeout 60 $sf bench crowd --backend native --json --frames 200 --warmup 20
      for wg in 64 256; do
        SPIKEFORGE_GPU_BRAIN_WG=$wg timeout 90 $sf bench crowd --backend gpu --json --brains 10000 --frames 30 --warmup 5 | sed "s/^{/{\"brain_wg\": $wg, /"
      done
      timeout 90 $sf bench crowd --backend native --json --brains 10000 --frames 30 --warmup 5
      timeout 60 $sf bench cuba --backend gpu --json --duration 1.0
      timeout 60 $sf bench cuba --backend native --json --duration 1.0
      timeout 60 $sf bench cuba --backend native --threads 16 --json --duration 1.0
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/final.jsonl" | cut -c1-420 ;;
    hostpath)  # raw C calls for the per-advance commands + one upload (SPIKEFORGE_GPU_RAW=0: wgpu-py's checked
               # calls) and neuron state in registers in the per-brain kernel (SPIKEFORGE_GPU_REG_STATE=0: in
               # memory every step), A/B in alternating rounds; native beside; then the exactness tests
      {
      for r in 1 2; do
        for v in "REG_STATE=1" "REG_STATE=0" "RAW=0"; do
          env SPIKEFORGE_GPU_$v timeout 60 $sf bench crowd --backend gpu --json --frames 200 --warmup 20 \
            | sed "s/^{/{\"env\": \"$v\", /"
        done
      done
      for v in "REG_STATE=1" "REG_STATE=0"; do
        env SPIKEFORGE_GPU_$v timeout 90 $sf bench crowd --backend gpu --json --brains 10000 --frames 40 --warmup 5 \
          | sed "s/^{/{\"env\": \"$v\", /"
      done
      timeout 60 $sf bench crowd --backend native --json --frames 200 --warmup 20
      timeout 90 $sf bench crowd --backend native --json --brains 10000 --frames 40 --warmup 5
      for v in "REG_STATE=1" "REG_STATE=0" "RAW=0"; do
        env SPIKEFORGE_GPU_$v timeout 120 python3 tools/gpu/profile_advance.py --paths default --brains 1000,10000 --calls 1000 \
          --cuba 4000 --repeats 9 | sed "s/^{/{\"env\": \"$v\", /"
      done
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/hostpath.jsonl" | cut -c1-600
      timeout 300 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_brain_kernel.py \
        tests/engine/test_gpu_step.py tests/engine/test_gpu_fallback.py tests/engine/test_gpu_tolerance.py \
        tests/engine/test_quadratic_if.py tests/runtime/test_churn_handles.py 2>&1 | tee "$OUT/hostpath_tests.log" | tail -8 ;;
    churn)  # NPC spawn/despawn hitches on an idle machine: pinned to 2 cores (like the dev box), then all cores
      {
      timeout 120 taskset -c 0,1 $sf bench churn --backend native --threads 2 --json
      timeout 120 taskset -c 0,1 $sf bench churn --backend native --threads 2 --json --compact
      timeout 120 $sf bench churn --backend native --json
      timeout 120 $sf bench churn --backend gpu --json
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/churn.jsonl" | cut -c1-700 ;;
    gpuchurn)  # the GPU's in-place slot writes: exactness on the real GPU, then the churn bench
      timeout 120 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_slots.py 2>&1 | tee "$OUT/gpu_slots.log" | tail -5
      {
      timeout 120 $sf bench churn --backend gpu --json
      timeout 120 $sf bench churn --backend gpu --json --learning rstdp
      timeout 120 taskset -c 0,1 $sf bench churn --backend native --threads 2 --json --learning rstdp
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/gpuchurn.jsonl" | cut -c1-900 ;;
    auto)  # issue 13 item 4: a fresh calibration of the GPU cost model, then at every bench size its
           # predictions beside what both backends measure (ratios, within 2x?) and what "auto" picks;
           # then bench crowd with auto on that calibration (~2-3 min in all)
      export SPIKEFORGE_CACHE_DIR=$(mktemp -d)
      timeout 180 python3 tools/gpu/auto_check.py 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/auto.jsonl" | cut -c1-2500
      timeout 40 $sf bench crowd --backend auto --json --frames 100 --warmup 20 2>&1 | grep -v XDG_RUNTIME \
        | tee -a "$OUT/auto.jsonl" | cut -c1-600
      unset SPIKEFORGE_CACHE_DIR ;;
    autocheck)  # `auto` without the bench after it and with a longer limit (its World timing of every size
                # takes ~3.5 min on an H100 machine)
      export SPIKEFORGE_CACHE_DIR=$(mktemp -d)
      timeout 300 python3 tools/gpu/auto_check.py 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/autocheck.jsonl" | cut -c1-2500
      unset SPIKEFORGE_CACHE_DIR ;;
    bench|figures)
      reps=1; [ "$part" = figures ] && reps=1
      {
      for be in gpu native; do
        timeout 100 $sf bench crowd --backend $be --json --frames 200 --warmup 20
        timeout 100 $sf bench crowd --backend $be --json --brains 10000 --frames 40 --warmup 5
        timeout 150 $sf bench scale --backend $be --json --steps 50 --repeats 5
        timeout 60 $sf bench cuba --backend $be --json --duration 1.0
        timeout 120 $sf bench learning --backend $be --json --parts cost --crowd-brains 500 --frames 100
      done
      # the same on the per-step learning kernels (before learning moved into the per-brain kernel)
      SPIKEFORGE_GPU_LEARN_FUSED=0 timeout 120 $sf bench learning --backend gpu --json --parts cost --crowd-brains 500 \
        --frames 100 | sed 's/^{/{"learn_fused": 0, /'
      timeout 100 $sf bench crowd --backend auto --json --frames 100 --warmup 20
      timeout 60 python3 -m spikeforge.bench.gpu_kernels --backend native --sizes 4000 --steps 2000 --json
      timeout 60 env SPIKEFORGE_THREADS=1 python3 -m spikeforge.bench.gpu_kernels --backend native --sizes 4000 --steps 2000 --json
      timeout 60 python3 -m spikeforge.bench.gpu_kernels --backend gpu --sizes 4000,40000 --steps 2000 --json --check 300
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/$part.jsonl" | cut -c1-700 ;;
    cpu)  # issue 14's CPU goals on an idle host: CUBA 4k on 1 thread beside Brian2 cpp_standalone (the
          # brian2 wheel and a copy of ../shared/anchors travel in .bench, made by tools/gpu/prepare_bench.sh;
          # NEST's 33 MB wheel does not fit the carry), crowd pinned to 2 cores, every model on 1 thread
      [ -d .bench ] && python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .bench/*.whl
      {
      for r in 1 2 3; do
        timeout 200 taskset -c 2 $sf bench cuba --n 4000 --duration 1 --threads 1 --compare --ref-python python3 \
          --anchors .bench/anchors --json
      done
      for r in 1 2; do
        timeout 100 taskset -c 0,1 $sf bench crowd --backend native --threads 2 --json --frames 300 --warmup 30
      done
      timeout 100 taskset -c 0 $sf bench crowd --backend native --threads 1 --json --frames 200 --warmup 20
      timeout 150 taskset -c 3 $sf bench models --threads 1 --steps 1000 --repeats 5 --json
      timeout 150 taskset -c 4 $sf bench learning --backend native --threads 1 --json --parts cost --crowd-brains 500 --frames 100
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/cpu.jsonl" | cut -c1-900 ;;
    cluster)  # issue 15 on the 16-core host: Ray's overhead per 60 Hz frame and 1 -> 4 shard scaling, each
              # shard count on ordinary actor calls and on the compiled graph (ClusterWorld(frame_path=...)).
              # Ray 2.60 (cp312, stripped) travels in .ray, made by tools/cluster/prepare_ray.sh; ~4-5 min.
              # Rows are printed as they are measured: a run stopped by its timeout keeps the rows it finished.
      ray=.ray; [ -d "$ray" ] || ray=../../.ray
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall("/tmp/site", filter="tar")' \
        "$ray"/ray-*-cp312-stripped.tar.xz || { echo "cluster: no Ray payload in $ray (tools/cluster/prepare_ray.sh)"; continue; }
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$ray"/whl/*.whl
      for b in raylet/raylet gcs/gcs_server; do
        [ -x /tmp/site/ray/core/src/ray/$b ] || { echo "cluster: /tmp/site/ray/core/src/ray/$b is not executable"; continue 2; }
      done
      export RAY_USAGE_STATS_ENABLED=0
      python3 -c 'import ray, ray.dag, ray.experimental.channel; print("ray", ray.__version__, ray.__file__)' || continue
      df -h /dev/shm /tmp | tail -n +2; free -g | head -2; uptime
      {  # the scaling goal's run (4 threads a shard) first: the longer overhead run may meet the call's limit
      timeout 150 $sf bench cluster --brains 2000 --shards 1,2,4 --threads 4 --frames 200 --warmup 30 \
        --frame-path remote,compiled --json
      timeout 270 $sf bench cluster --brains 2000 --shards 1,2,4 --threads 1 --frames 200 --warmup 30 \
        --frame-path remote,compiled --rounds 2 --json
      } 2>&1 | grep -v -e XDG_RUNTIME -e authentication_token | tee "$OUT/cluster.jsonl" | cut -c1-900
      python3 -m ray.scripts.scripts stop --force >/dev/null 2>&1 || true ;;  # no Ray process outlives the part
    serve)  # issue 17 on a quiet host: the player's exchange p99 while another client churns re-layout
            # spawns or spawns 3,000 brains into free slots, server and clients pinned to two physical cores
      lscpu -e=CPU,CORE,SOCKET | head -20
      two=$(lscpu -p=CPU,CORE | grep -v '^#' | awk -F, '!seen[$2]++ {print $1}' | sed -n '3,4p' | paste -sd,)
      echo "pinned to cpus $two"
      {
      timeout 150 taskset -c "$two" $sf bench relayout --backend native --brains 10000 --repeat 3 --churn 5 --json
      timeout 120 taskset -c "$two" $sf bench relayout --backend native --brains 1000 --spawn-count 3000 --repeat 3 --json
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/serve.jsonl" | cut -c1-1200 ;;
    servechurn)  # the first half of `serve` alone: back-to-back re-layout churn beside 10,000 brains
      two=$(lscpu -p=CPU,CORE | grep -v '^#' | awk -F, '!seen[$2]++ {print $1}' | sed -n '3,4p' | paste -sd,)
      echo "pinned to cpus $two"
      timeout 150 taskset -c "$two" $sf bench relayout --backend native --brains 10000 --repeat 3 --churn 5 --json \
        2>&1 | grep -v XDG_RUNTIME | tee "$OUT/servechurn.jsonl" | cut -c1-1200 ;;
    servestall)  # issue 17's spawn stall on the quiet host: the draw's pauses off / on (A/B, 3 rounds), then
                 # the break-down of every exchange slower than 20 ms (tools/ipc/handoff_trace.py), two pinned cores
      two=$(lscpu -p=CPU,CORE | grep -v '^#' | awk -F, '!seen[$2]++ {print $1}' | sed -n '3,4p' | paste -sd,)
      echo "pinned to cpus $two"
      timeout 240 bash tools/ipc/spawn_stall_ab.sh 3 "$two" python3 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/servestall.jsonl"
      SF_BREATHE=0,0 timeout 100 taskset -c "$two" python3 tools/ipc/handoff_trace.py --slow-ms 20 -- --backend native \
        --brains 1000 --spawn-count 3000 --repeat 3 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/handoff_off.txt" | cut -c1-700
      timeout 100 taskset -c "$two" python3 tools/ipc/handoff_trace.py --slow-ms 20 -- --backend native \
        --brains 1000 --spawn-count 3000 --repeat 3 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/handoff_on.txt" | cut -c1-700 ;;
    servestallab)  # the A/B of `servestall` alone (2 rounds), without the traces
      two=$(lscpu -p=CPU,CORE | grep -v '^#' | awk -F, '!seen[$2]++ {print $1}' | sed -n '3,4p' | paste -sd,)
      echo "pinned to cpus $two"
      timeout 240 bash tools/ipc/spawn_stall_ab.sh 2 "$two" python3 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/servestallab.jsonl" ;;
    gpucrowd)  # issue 13's crowd goals (1,000 x 256 <= 0.5 ms/frame, 10,000 <= 4 ms), A/B of the per-brain
               # kernel: default = spike masks in workgroup memory + a spike's rows at once + the host list
               # sorted on the device; ORDER=0: masks, list sorted here; WG_MASK=0: neither (= main before);
               # SPAN=0: rows one by one; WG_SPAN=0: a neuron's synapse range from row_ptr / row_syn, not from
               # a table in workgroup memory; DEV_STEPS=0: the brain table uploaded every advance; WG_RING=1: delay ring in workgroup memory; "BRAIN_WG=128 ..REG_NPT=2"
               # / "64 ..4": 2 / 4 neurons per invocation in registers (more brains resident per SM);
               # native beside, the profile's split, then the exactness tests. Rows: "env" = the setting.
      {
      for r in 1 2; do
        for v in "WG_MASK=1" "WG_MASK=0"; do
          env SPIKEFORGE_GPU_$v timeout 45 $sf bench crowd --backend gpu --json --frames 200 --warmup 20 \
            | sed "s/^{/{\"env\": \"$v\", \"round\": $r, /"
        done
      done
      for v in "ORDER=0" "WG_SPAN=0" "WG_RING=1" "BRAIN_WG=128 SPIKEFORGE_GPU_REG_NPT=2" \
               "BRAIN_WG=64 SPIKEFORGE_GPU_REG_NPT=4"; do
        env SPIKEFORGE_GPU_$v timeout 45 $sf bench crowd --backend gpu --json --frames 200 --warmup 20 \
          | sed "s/^{/{\"env\": \"$v\", /"
      done
      for v in "WG_MASK=1" "WG_MASK=0" "BRAIN_WG=128 SPIKEFORGE_GPU_REG_NPT=2" "BRAIN_WG=64 SPIKEFORGE_GPU_REG_NPT=4"; do
        env SPIKEFORGE_GPU_$v timeout 60 $sf bench crowd --backend gpu --json --brains 10000 --frames 40 --warmup 5 \
          | sed "s/^{/{\"env\": \"$v\", /"
      done
      timeout 45 $sf bench crowd --backend native --json --frames 200 --warmup 20
      timeout 60 $sf bench crowd --backend native --json --brains 10000 --frames 40 --warmup 5
      for v in "WG_MASK=1" "ORDER=0" "WG_MASK=0"; do
        env SPIKEFORGE_GPU_$v timeout 50 python3 tools/gpu/profile_advance.py --paths default --brains 1000,10000 \
          --cuba "" --repeats 9 | sed "s/^{/{\"env\": \"$v\", /"
      done
      # rows one by one; where a step's time goes (PROFILE_SKIP: timing only, skips a phase, spikes wrong)
      for v in "SPAN=0" "WG_SPAN=0" "DEV_STEPS=0" "PROFILE_SKIP=propagation" "PROFILE_SKIP=neurons"; do
        env SPIKEFORGE_GPU_$v timeout 30 python3 tools/gpu/profile_advance.py --paths default --brains 1000 \
          --cuba "" --repeats 9 | sed "s/^{/{\"env\": \"$v\", /"
      done
      timeout 30 python3 tools/gpu/host_record_cost.py --brains 1000,10000  # the record's host cost, both ways
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/gpucrowd.jsonl" | cut -c1-600
      timeout 120 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_brain_kernel.py \
        tests/engine/test_gpu_step.py tests/engine/test_gpu_fallback.py tests/engine/test_gpu_tolerance.py \
        tests/engine/test_gpu_slots.py 2>&1 | tee "$OUT/gpucrowd_tests.log" | tail -8 ;;
    crowdgoals)  # issue 13's crowd goals only, GPU beside native on all cores in one run (~2 min)
      {
      for r in 1 2; do
        timeout 45 $sf bench crowd --backend gpu --json --frames 200 --warmup 20 | sed "s/^{/{\"round\": $r, /"
        timeout 60 $sf bench crowd --backend gpu --json --brains 10000 --frames 40 --warmup 5 | sed "s/^{/{\"round\": $r, /"
      done
      timeout 45 $sf bench crowd --backend native --json --frames 200 --warmup 20
      timeout 60 $sf bench crowd --backend native --json --brains 10000 --frames 40 --warmup 5
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/crowdgoals.jsonl" | cut -c1-600 ;;
    crowdpin)  # is crowd 1,000's bimodal GPU timing (0.6-0.8 or ~1.4 ms/frame) the host thread's placement?
               # the same bench unpinned and pinned to one core, alternating, 4 rounds, with the SM clock
      {
      for r in 1 2 3 4; do
        for pin in none 3; do
          clk=$(nvidia-smi --query-gpu=clocks.sm --format=csv,noheader 2>/dev/null | tr -d ' ')
          if [ $pin = none ]; then cmd=""; else cmd="taskset -c $pin"; fi
          timeout 45 $cmd $sf bench crowd --backend gpu --json --frames 200 --warmup 20 \
            | sed "s/^{/{\"round\": $r, \"pin\": \"$pin\", \"sm_clock_before\": \"$clk\", /"
        done
      done
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/crowdpin.jsonl" | cut -c1-400 ;;
    crowdclock)  # crowd 1,000 six times with the SM clock sampled every 100 ms beside it (is the slow mode the clock?)
      for r in 1 2 3 4 5 6; do
        nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,pstate,clocks_event_reasons.active --format=csv,noheader \
          -lms 100 > "$OUT/clk$r.csv" & sp=$!
        timeout 45 $sf bench crowd --backend gpu --json --frames 200 --warmup 20 2>/dev/null \
          | sed "s/^{/{\"round\": $r, \"clock_log\": \"clk$r.csv\", /" | tee -a "$OUT/crowdclock.jsonl" | cut -c1-300
        kill $sp; sleep 3
      done ;;
    kept)  # issue 14's per-population state on the device: every kept-state test on the AVX-512 loops
           # and the real GPU, the elision tests, the GPU step tests (a short `nativetests` + `tests`)
      timeout 300 python3 -m pytest -q -p no:cacheprovider tests/engine/test_kept_state.py \
        tests/runtime/test_state_elision.py tests/engine/test_native_exact.py tests/engine/test_gpu_step.py \
        2>&1 | tee "$OUT/kept.log" | tail -15
      python3 -c 'from spikeforge.bench import cuba_circuit, make_world
w = make_world("native", 1, 0.0001, 1); w.spawn(cuba_circuit(4000)); w.step(1); print("isa used:", w.backend.isa)' ;;
    crowdmodes)  # crowd 1,000's two GPU timings: per process (build-time) or within one process (run time)?
      {
      for r in 1 2 3 4; do timeout 60 python3 tools/gpu/crowd_modes.py --windows 6 --frames 100; done
      timeout 60 python3 tools/gpu/crowd_modes.py --windows 6 --frames 100 --pause 0.5
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/crowdmodes.jsonl" | cut -c1-400 ;;
    crowdpace)  # crowd 1,000 and 10,000 as a game runs them: frames on a 60 Hz clock (the GPU idles
                # between frames), three windows of 120 frames, two processes each; then back to back
      {
      for b in 1000 10000; do
        for r in 1 2; do timeout 90 python3 tools/gpu/crowd_modes.py --brains $b --windows 3 --frames 120 --pace 60; done
        timeout 90 python3 tools/gpu/crowd_modes.py --brains $b --windows 3 --frames 120
      done
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/crowdpace.jsonl" | cut -c1-400 ;;
    learnrules)  # issue 14's learning cost for each rule (pair STDP at emission / delivery, reward-STDP), idle core
      for rule in stdp stdp-delivery rstdp stdp stdp-delivery rstdp; do
        timeout 150 taskset -c 4 $sf bench learning --backend native --threads 1 --json --parts cost --crowd-brains 500 \
          --frames 200 --rule $rule 2>&1 | grep -v XDG_RUNTIME | sed "s/^{/{\"rule\": \"$rule\", /" \
          | tee -a "$OUT/learnrules.jsonl" | cut -c1-600
      done ;;
    planes)  # the device state planes (this tree: one plane per stored variable + a shared +0 plane, no
             # loads/stores of absent ones) against the tree in .devwork/repo (before), alternating, 2 rounds:
             # bench scale and crowd 1,000 / 10,000 on the GPU. Needs .devwork carried (tools/gpu/prepare.sh BASE).
      (cd .devwork/repo && python3 setup.py -q build_ext --inplace >"$OUT/build_base.log" 2>&1) || echo "base build failed"
      {
      for r in 1 2; do
        for t in .devwork/repo .; do
          (cd $t && export PYTHONPATH=/tmp/site:$PWD/sdk:$PWD &&
            timeout 150 python3 -m spikeforge.cli bench scale --backend gpu --json --steps 50 --repeats 5 &&
            timeout 45 python3 -m spikeforge.cli bench crowd --backend gpu --json --frames 200 --warmup 20 &&
            timeout 60 python3 -m spikeforge.cli bench crowd --backend gpu --json --brains 10000 --frames 40 --warmup 5) \
            | sed "s|^{|{\"tree\": \"$t\", \"round\": $r, |"
        done
      done
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/planes.jsonl" | cut -c1-500 ;;
    autotests)  # issue 13 item 4: the cost-model tests, the calibration one three times (its fit once
                # predicted every crowd alike on an H100: SIZE_COLUMNS)
      for r in 1 2 3; do
        timeout 150 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_auto.py 2>&1 | tail -4
      done | tee "$OUT/autotests.log" ;;
    kerneltimes)  # issue 13's scale and crowd goals: each kernel's GPU time from timestamp queries
                  # (tools/gpu/kernel_times.py); scale with the neuron kernel's parts left out in turn
                  # (SPIKEFORGE_GPU_PROFILE_ABLATE, timing only), crowd 10,000 without propagation / neurons;
                  # scale and crowd 10,000 with the general kernel too (SPIKEFORGE_GPU_SPECIALIZE=0)
      kt="timeout 120 python3 tools/gpu/kernel_times.py"
      {
      for a in "" ctl ring store core ctl,ring,store,core; do
        SPIKEFORGE_GPU_PROFILE_ABLATE=$a $kt --net scale --steps 20 --label "scale ablate=$a"
      done
      SPIKEFORGE_GPU_SPECIALIZE=0 $kt --net scale --steps 20 --label "scale general"
      $kt --net cuba --n 4000 --steps 100 --label cuba4k
      $kt --net crowd --brains 1000 --steps 17 --label crowd1000
      $kt --net crowd --brains 10000 --steps 17 --label crowd10000
      SPIKEFORGE_GPU_SPECIALIZE=0 $kt --net crowd --brains 10000 --steps 17 --label "crowd10000 general"
      for b in 1000 10000; do  # the brain's ring in workgroup memory (10,000 brains' rings outgrow L2)
        SPIKEFORGE_GPU_WG_RING=1 $kt --net crowd --brains $b --steps 17 --label "crowd$b wg_ring"
      done
      for sk in propagation neurons; do
        SPIKEFORGE_GPU_PROFILE_SKIP=$sk $kt --net crowd --brains 10000 --steps 17 --label "crowd10000 skip=$sk"
      done
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/kerneltimes.jsonl" | cut -c1-700 ;;
    kernelpace)  # issue 13's scale and crowd, most wanted first (a run cut short keeps what it wrote): scale's
                 # propagation by a workgroup per spike (now a GPU's default) against one invocation per spike;
                 # the exactness tests of today's kernel changes; crowd 10,000's GPU time (timestamps) against
                 # wall time, back to back and paced at 60 Hz; whether polling without blocking
                 # (SPIKEFORGE_GPU_SPIN_US) changes a paced game frame; bench scale
      kt="timeout 150 python3 tools/gpu/kernel_times.py"
      {
      for wps in "" 0; do
        SPIKEFORGE_GPU_WG_PER_SPIKE=$wps $kt --net scale --steps 50 --repeats 5 --label "scale 50 steps wg_per_spike=$wps"
      done
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/kernelpace.jsonl" | cut -c1-900
      timeout 200 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_features.py tests/engine/test_gpu_step.py \
        tests/engine/test_gpu_brain_kernel.py tests/engine/test_gpu_learning.py -k "not per-brain" \
        2>&1 | tee "$OUT/kernelpace_tests.log" | tail -6
      {
      for pace in 0 60; do $kt --net crowd --brains 10000 --steps 17 --repeats 30 --pace $pace --label "crowd10000 pace=$pace"; done
      for spin in 0 20000; do
        SPIKEFORGE_GPU_SPIN_US=$spin timeout 90 python3 tools/gpu/crowd_modes.py --brains 10000 --windows 3 --frames 90 \
          --pace 60 | sed "s/^{/{\"spin_us\": $spin, /"
      done
      timeout 150 $sf bench scale --backend gpu --json --steps 50 --repeats 5
      } 2>&1 | grep -v XDG_RUNTIME | tee -a "$OUT/kernelpace.jsonl" | cut -c1-900 ;;
    worldvsbackend)  # issue 13: a World frame against its backend's advance, one world, alternately
                     # (tools/gpu/world_vs_backend.py): crowd 10,000 / 1,000 paced at 60 Hz, scale with and
                     # without the world's draw-ahead; then bench scale (draw-ahead off since 2026-12-07)
      {
      for b in 10000 1000; do
        for da in 1 0; do timeout 120 python3 tools/gpu/world_vs_backend.py --net crowd --brains $b --pace 60 --draw-ahead $da; done
      done
      for da in 1 0; do timeout 150 python3 tools/gpu/world_vs_backend.py --net scale --frames 5 --draw-ahead $da; done
      timeout 150 $sf bench scale --backend gpu --json --steps 50 --repeats 5
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/worldvsbackend.jsonl" | cut -c1-700 ;;
    foldab)  # issue 13: prep folded into propagation (FOLD, SPIKEFORGE_GPU_FOLD_PREP) on and off for scale's
             # per-step path (each kernel's GPU time, tools/gpu/kernel_times.py), a World frame against its
             # backend's advance for crowd 10,000 paced at 60 Hz, crowd 1,000's World frame, an empty
             # frame's round trip and the split of a crowd advance, each with the next advance's commands
             # recorded ahead and not (SPIKEFORGE_GPU_PRERECORD 1/0), then the exactness tests (FOLD,
             # pre-recording, the per-step path)
      {
      for f in 1 0; do SPIKEFORGE_GPU_FOLD_PREP=$f timeout 130 python3 tools/gpu/kernel_times.py --net scale --steps 20 \
        --label "scale fold=$f"; done
      timeout 90 python3 tools/gpu/world_vs_backend.py --net crowd --brains 10000 --pace 60 --draw-ahead 0
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/foldab.jsonl" | cut -c1-900
      {
      timeout 60 python3 tools/gpu/world_vs_backend.py --net crowd --brains 1000 --pace 60 --draw-ahead 0
      # the round-trip floor of an empty frame, then the split of a crowd advance (record, submit, wait, post)
      for pr in 1 0; do SPIKEFORGE_GPU_PRERECORD=$pr timeout 60 python3 tools/gpu/profile_advance.py \
        $([ $pr = 1 ] && echo --floor 2000) --paths default --brains 1000,10000 --cuba "" --repeats 15 \
        | sed "s/^{/{\"prerecord\": $pr, /"; done
      for pr in 1 0; do SPIKEFORGE_GPU_PRERECORD=$pr timeout 60 python3 tools/gpu/world_vs_backend.py --net crowd \
        --brains 1000 --draw-ahead 0 --kinds world --frames 200 | sed "s/^{/{\"prerecord\": $pr, /"; done
      } 2>&1 | grep -v XDG_RUNTIME | tee -a "$OUT/foldab.jsonl"
      timeout 150 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_fold.py tests/engine/test_gpu_prerecord.py \
        tests/engine/test_gpu_step.py tests/engine/test_gpu_features.py 2>&1 | tee "$OUT/foldab-tests.log" | tail -6 ;;
    pattern)  # issue 13: does the sequence of step counts change an advance's cost (crowd 10,000: 1.6 ms per
              # 17-step advance back to back, 5.5 ms alternating with 1-step ones)? Then FOLD's default,
              # the contract-aware state comparison and the per-step fit on the device
      {
      timeout 100 python3 tools/gpu/advance_pattern.py --brains 10000 --sensors --patterns 17 16,17,17 17,1
      SPIKEFORGE_GPU_PRERECORD=0 timeout 100 python3 tools/gpu/advance_pattern.py --brains 10000 --sensors \
        --patterns 17 16,17,17 --paces 0
      timeout 60 python3 tools/gpu/advance_pattern.py --brains 1000 --sensors --patterns 17 16,17,17 17,1
      # the same instance's World frames beside its backend's (2026-12-07: bench crowd 10,000 5.0 ms per World
      # frame where advance_pattern's backend advances took 1.7-2.3 ms; the World's own Python is 0.05 ms)
      timeout 90 python3 tools/gpu/advance_pattern.py --brains 10000 --sensors --patterns 16,17,17 --via-world
      timeout 90 python3 tools/gpu/world_host_split.py --brains 10000 --frames 40
      timeout 90 python3 tools/gpu/world_vs_backend.py --net crowd --brains 10000 --draw-ahead 0 --frames 60
      timeout 90 python3 tools/gpu/world_vs_backend.py --net crowd --brains 10000 --draw-ahead 0 --frames 60 --pace 60
      timeout 90 $sf bench crowd --backend gpu --json --brains 10000 --frames 60 --warmup 10
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/pattern.jsonl" | cut -c1-600
      timeout 240 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_fold.py tests/engine/test_gpu_prerecord.py \
        tests/engine/test_gpu_brain_kernel.py tests/engine/test_gpu_auto.py tests/engine/test_gpu_step.py \
        2>&1 | tee "$OUT/pattern-tests.log" | tail -8 ;;
    patternquick)  # `pattern` in a short device budget: the changed exactness tests, crowd 10,000's step-count
                   # patterns, then the calibration test (each writes its file as it goes)
      timeout 90 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_fold.py tests/engine/test_gpu_prerecord.py \
        2>&1 | tee "$OUT/pattern-tests.log" | tail -4
      timeout 90 python3 tools/gpu/advance_pattern.py --brains 10000 --sensors --patterns 17 16,17,17 17,1 \
        --advances 30 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/pattern.jsonl" | cut -c1-600
      timeout 150 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu_auto.py -k calibration \
        2>&1 | tee "$OUT/pattern-auto-tests.log" | tail -4 ;;
    gap)  # issue 13: where crowd 10,000's World frame (5.0 ms) loses ~3 ms to its backend's bare advance
          # (1.7-2.3 ms), in one process per line and one machine: a backend made on a finished layout,
          # the backend a World built, a device opened before the spawn (idle through it; and a backend made
          # and closed on it first), the World's frame beside the bare call, then the bench; the SM and memory
          # clocks and the PCIe link sampled every 200 ms beside it (gap-clocks.csv; each line's start time in gap.jsonl)
      nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,pstate,pcie.link.gen.current,pcie.link.width.current,clocks_event_reasons.active \
        --format=csv,noheader -lms 200 > "$OUT/gap-clocks.csv" 2>/dev/null & smi=$!
      {
      echo "{\"start\": \"$(date -u +%T.%N)\"}"; timeout 90 python3 tools/gpu/advance_pattern.py --brains 10000 --sensors --patterns 16,17,17 --advances 45
      echo "{\"start\": \"$(date -u +%T.%N)\"}"; timeout 90 python3 tools/gpu/advance_pattern.py --brains 10000 --sensors --patterns 16,17,17 --advances 45 --via-world
      echo "{\"start\": \"$(date -u +%T.%N)\"}"; timeout 90 python3 tools/gpu/advance_pattern.py --brains 10000 --sensors --patterns 16,17,17 --advances 45 --device-first
      echo "{\"start\": \"$(date -u +%T.%N)\"}"; timeout 90 python3 tools/gpu/advance_pattern.py --brains 10000 --sensors --patterns 16,17,17 --advances 45 --backend-first
      echo "{\"start\": \"$(date -u +%T.%N)\"}"; timeout 90 python3 tools/gpu/world_host_split.py --brains 10000 --frames 40
      echo "{\"start\": \"$(date -u +%T.%N)\"}"; timeout 90 $sf bench crowd --backend gpu --json --brains 10000 --frames 60 --warmup 10
      echo "{\"start\": \"$(date -u +%T.%N)\"}"; timeout 60 $sf bench crowd --backend auto --json --brains 1000 --frames 100 --warmup 20
      } 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/gap.jsonl" | cut -c1-700
      kill $smi 2>/dev/null ;;
    alltests)  # every test file with a gpu-marked test (issue 13: every GPU test passes on the device)
      timeout 420 python3 -m pytest -q -p no:cacheprovider -m gpu $(grep -rlE "pytest.mark.gpu|pytestmark.*gpu" tests | sort) \
        2>&1 | tee "$OUT/alltests.log" | tail -25 ;;
    learncost)  # issue 14's learning cost (native, 1 thread, idle core)
      timeout 150 taskset -c 4 $sf bench learning --backend native --threads 1 --json --parts cost --crowd-brains 500 \
        --frames 200 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/learncost.jsonl" | cut -c1-600 ;;
    *) echo "unknown part $part" ;;
  esac
  echo "== $part: $(( $(date +%s) - t1 )) s"
done
