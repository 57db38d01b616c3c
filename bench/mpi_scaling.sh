#!/bin/sh
# Data-parallel scaling of `unimo2 train` (a build with ./configure --with-mpi):
# the same per-rank batch on 1 and on N ranks of one thread each (weak scaling),
# runs interleaved so that a shared machine's load hits them alike.  Prints one
# JSON line per run and a summary line per rank count:
#   {"config":"small","ranks":2,"samples_per_s":...,"efficiency":...,
#    "step_s":...,"compute_s":...,"allreduce_wait_s":...,"allreduce_bytes":...}
# samples count an image-only item's two views; efficiency = samples/s on N
# ranks / (N x samples/s on 1 rank); compute_s is
# forward + backward (the all-reduce overlapping it included), allreduce_wait_s
# the time left waiting for the gradients after the backward pass (means over
# the ranks and the timed steps); compute_share = compute_s / (compute_s +
# allreduce_wait_s) is the efficiency to expect where every rank has its own
# cores (on a machine shared with other work, wall-clock efficiency mostly
# measures how much CPU the ranks were given: see loadavg; doc/scaling.md).
#
# usage: bench/mpi_scaling.sh [--config small] [--steps 8] [--warmup 2]
#          [--ranks "1 2"] [--repeat 2] [--batch "4 4 2"] [--unimo2 PATH] [--mpirun PATH]
set -eu
config=small
steps=8
warmup=2
ranks="1 2"
repeat=2
batch="4 4 2"
u2=${UNIMO2:-./unimo2}
mpirun=${MPIRUN:-mpirun}
while [ $# -gt 0 ]; do
  case "$1" in
  --config) config=$2; shift 2 ;;
  --steps) steps=$2; shift 2 ;;
  --warmup) warmup=$2; shift 2 ;;
  --ranks) ranks=$2; shift 2 ;;
  --repeat) repeat=$2; shift 2 ;;
  --batch) batch=$2; shift 2 ;;
  --unimo2) u2=$2; shift 2 ;;
  --mpirun) mpirun=$2; shift 2 ;;
  -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
  *) echo "mpi_scaling.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if ! "$u2" info 2>/dev/null | grep -q "^data-parallel: .*MPI"; then
  echo "mpi_scaling.sh: $u2 was built without ./configure --with-mpi" >&2
  exit 1
fi
command -v "$mpirun" >/dev/null || { echo "mpi_scaling.sh: no $mpirun (Debian: openmpi-bin)" >&2; exit 1; }
set -- $batch
bp=$1 bt=$2 bi=$3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/u2-mpibench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export UNIMO2_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# one machine: shared memory only; no binding (ranks may outnumber free cores).
# Open MPI copies large messages with CMA (process_vm_readv) where ptrace is
# allowed; a container that denies it needs OMPI_MCA_btl_vader_single_copy_mechanism=none.
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none

size=$("$u2" info --config "$config" | sed -n 's/.*image \([0-9]*\)x.*/\1/p')
params=$("$u2" info --config "$config" | sed -n 's/^ *total *\([0-9]*\) parameters.*/\1/p')
"$u2" gen-data --out "$tmp/data" --pairs 512 --images 256 --texts 2048 --eval 0 --size "$size" --quiet
"$u2" tokenizer --texts "$tmp/data/texts.txt" --vocab-size 2048 --out "$tmp/tok" --quiet >/dev/null

run() { # RANKS REP: one run, one JSON line
  n=$1
  out="$tmp/run-$n-$2"
  args="train --config $config --data $tmp/data --tokenizer $tmp/tok --steps $((steps + warmup)) --out $out
    --pairs-batch $bp --texts-batch $bt --images-batch $bi --checkpoint-every 0 --json --log-every 1 --quiet"
  if [ "$n" -eq 1 ]; then "$u2" $args >"$out.json"; else "$mpirun" -np "$n" "$u2" $args >"$out.json"; fi
  # the timed steps: after the warm-up, before the last (which writes the checkpoint)
  awk -v n="$n" -v w="$warmup" -v cfg="$config" -v bytes=$((4 * params)) -v b=$((bp + bt + 2 * bi)) '
    function num(k,   r) { r = $0; if (!match(r, "\"" k "\":[-0-9.e+]*")) return 0
                           r = substr(r, RSTART + length(k) + 3, RLENGTH - length(k) - 3); return r + 0 }
    { step = num("step") }
    step > w { last = $0; rows[++m] = $0 }
    END {
      for (i = 1; i < m; i++) { $0 = rows[i]; t += n * b / num("samples_per_s"); c += num("compute_s"); a += num("allreduce_wait_s"); k++ }
      if (!k) exit 1
      printf "{\"config\":\"%s\",\"ranks\":%d,\"steps\":%d,\"samples_per_s\":%.3f,\"step_s\":%.4f", cfg, n, k, k * n * b / t, t / k
      if (n > 1) printf ",\"compute_s\":%.4f,\"allreduce_wait_s\":%.4f", c / k, a / k
      printf ",\"allreduce_bytes\":%d}\n", (n > 1 ? bytes : 0)
    }' "$out.json"
}

for rep in $(seq "$repeat"); do
  for n in $ranks; do run "$n" "$rep" | tee -a "$tmp/all.jsonl"; done
done
# summary per rank count: means over the repeats, efficiency against 1 rank
awk '
  function num(k,   r) { r = $0; if (!match(r, "\"" k "\":[-0-9.e+]*")) return 0
                         r = substr(r, RSTART + length(k) + 3, RLENGTH - length(k) - 3); return r + 0 }
  { n = num("ranks"); cfg = $0; sub(/.*"config":"/, "", cfg); sub(/".*/, "", cfg)
    s[n] += num("samples_per_s"); t[n] += num("step_s"); c[n] += num("compute_s"); a[n] += num("allreduce_wait_s")
    by[n] = num("allreduce_bytes"); k[n]++; if (!(n in seen)) { order[++no] = n; seen[n] = 1 } }
  END {
    for (i = 1; i <= no; i++) {
      n = order[i]; sps = s[n] / k[n]; base = s[1] / k[1]
      printf "{\"summary\":true,\"config\":\"%s\",\"ranks\":%d,\"samples_per_s\":%.3f,\"efficiency\":%.3f,\"step_s\":%.4f", cfg, n, sps, sps / (n * base), t[n] / k[n]
      if (n > 1) printf ",\"compute_s\":%.4f,\"allreduce_wait_s\":%.4f,\"allreduce_bytes\":%d,\"compute_share\":%.3f", c[n] / k[n], a[n] / k[n], by[n], c[n] / (c[n] + a[n])
      printf ",\"loadavg\":\"%s\"}\n", load
    }
  }' load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" "$tmp/all.jsonl"
