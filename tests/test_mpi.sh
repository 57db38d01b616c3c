#!/bin/sh
# Data-parallel training with MPI (./configure --with-mpi; skipped otherwise),
# two ranks on this machine, tiny config:
# - 2 ranks reach the weights of one process with --accum 2 bit for bit, 4 ranks
#   (and 2 ranks x --accum 2) those of --accum 4 within the tolerance of
#   doc/scaling.md; mpirun -np 1 equals a plain run bit for bit;
# - runs stopped and resumed with another rank count (--accum derived), and a
#   3-rank resume refused (3 does not divide 2);
# - a rank that dies ends the job naming it, the last checkpoint loads, and
#   --resume with 2 ranks ends bit-identical to an uninterrupted 2-rank run;
# - a rank that hangs: the others give up after --dist-timeout naming it;
# - SIGTERM to one rank stops both at the same step with one checkpoint.
set -u
. "${top_srcdir:-.}/tests/common.sh"
if ! u2 info 2>/dev/null | grep -q "^data-parallel: .*MPI"; then
  echo "1..0 # SKIP built without ./configure --with-mpi"
  exit 0
fi
MPIRUN=${MPIRUN:-$(command -v mpirun || true)}
if [ -z "$MPIRUN" ] || [ -n "$U2_RUN" ]; then
  echo "1..0 # SKIP no mpirun here (Debian: openmpi-bin)"
  exit 0
fi
PY=${REF_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=/usr/bin/python3
have_numpy=0
"$PY" -c "import numpy" 2>/dev/null && have_numpy=1
u2_tmpdir

# Root in a container without a network: shared memory between the ranks only,
# no binding (the cores are shared), no CMA single-copy (ptrace is often denied).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
export OMPI_MCA_orte_base_help_aggregate=1
# one thread per rank: the comparisons need the same arithmetic in every run
export UNIMO2_THREADS=1
mpi() { n=$1; shift; "$MPIRUN" -np "$n" "$U2_BIN" "$@"; }
cmp_w() { "$PY" "$top_srcdir/tests/st_compare.py" "$@"; }
ckpt_step() { "$PY" "$top_srcdir/tests/st_compare.py" --step "$1"; }

u2 gen-data --out "$tmp/data" --pairs 96 --images 64 --texts 400 --eval 16 --size 16 --quiet
u2 tokenizer --texts "$tmp/data/texts.txt" --vocab-size 400 --out "$tmp/tok" --quiet >/dev/null
LR=3e-3
T="--config tiny --data $tmp/data --tokenizer $tmp/tok --quiet --pairs-batch 4 --texts-batch 4 --images-batch 2 --lr $LR --checkpoint-every 3"
# doc/scaling.md: two ranks sum a + b like one process: the same bits.  More
# ranks sum in another order: after k steps the weights differ by about
# 1e-4 lr k here, while a different gradient (a wrong data split) moves them by
# about lr per step; 2e-3 lr k separates the two.
TOL=$(awk "BEGIN{print 2e-3 * $LR * 6}")

u2 train $T --steps 6 --accum 2 --out "$tmp/acc2" 2>"$tmp/err"
check "one process, --accum 2: 6 steps" '[ $? -eq 0 ] && [ -s "$tmp/acc2/model.safetensors" ]'

mpi 2 train $T --steps 6 --out "$tmp/r2" --json --log-every 1 >"$tmp/r2.json" 2>"$tmp/err"
check "mpirun -np 2: 6 steps" '[ $? -eq 0 ] && [ -s "$tmp/r2/model.safetensors" ]'
check "rank 0 alone prints the JSON lines, with the all-reduce timings" \
  '[ "$(grep -c "\"ranks\":2,\"compute_s\":.*\"allreduce_wait_s\":" "$tmp/r2.json")" -eq 6 ] && [ "$(wc -l <"$tmp/r2.json")" -eq 6 ]'
check "2 ranks == one process with --accum 2, bit for bit" \
  'cmp -s "$tmp/r2/model.safetensors" "$tmp/acc2/model.safetensors"'
check "the global losses logged are the one process's" \
  '[ "$(cut -d, -f1-16 "$tmp/r2/train.csv")" = "$(cut -d, -f1-16 "$tmp/acc2/train.csv")" ]'
mpi 1 train $T --steps 6 --accum 2 --out "$tmp/r1" 2>"$tmp/err"
check "mpirun -np 1 --accum 2 == one process --accum 2, bit for bit" \
  'cmp -s "$tmp/r1/model.safetensors" "$tmp/acc2/model.safetensors"'

u2 train $T --steps 6 --accum 4 --out "$tmp/acc4" 2>"$tmp/err"
mpi 4 train $T --steps 6 --out "$tmp/r4" 2>"$tmp/err"
check "mpirun -np 4: 6 steps" '[ $? -eq 0 ]'
mpi 2 train $T --steps 6 --accum 2 --out "$tmp/r2a2" 2>"$tmp/err"
if [ $have_numpy = 1 ]; then
  cmp_w "$tmp/acc4/model.safetensors" "$tmp/r4/model.safetensors" --max "$TOL" >"$tmp/cmp"
  check "4 ranks == --accum 4 within $TOL ($(cat "$tmp/cmp"))" '[ $? -eq 0 ]'
  cmp_w "$tmp/acc4/model.safetensors" "$tmp/r2a2/model.safetensors" --max "$TOL" >"$tmp/cmp"
  check "2 ranks x --accum 2 == --accum 4 within $TOL ($(cat "$tmp/cmp"))" '[ $? -eq 0 ]'
  cmp_w "$tmp/acc4/model.safetensors" "$tmp/acc2/model.safetensors" --max "$TOL" >"$tmp/cmp"
  check "control: half the micro-batches is outside it ($(cat "$tmp/cmp"))" '[ $? -ne 0 ]'
else
  skip "4 ranks == --accum 4: /usr/bin/python3 has no numpy"
fi

# resume with another rank count
mpi 2 train $T --steps 6 --out "$tmp/rs" --stop-at 2 >/dev/null 2>"$tmp/err"
check "2 ranks stopped at step 2 with one checkpoint" \
  'grep -q "stopped at step 2" "$tmp/err" && [ "$(ckpt_step "$tmp/rs/checkpoint.safetensors")" = 2 ]'
mpi 3 train $T --steps 6 --out "$tmp/rs" --resume >/dev/null 2>"$tmp/err"
check "3 ranks cannot resume a run of 2 micro-batches per step" \
  '[ $? -ne 0 ] && grep -q "^unimo2: rank 0: .*3 ranks cannot share them" "$tmp/err" && [ "$(ckpt_step "$tmp/rs/checkpoint.safetensors")" = 2 ]'
u2 train $T --steps 6 --out "$tmp/rs" --resume 2>"$tmp/err"
check "one process resumes the 2-rank run (--accum 2 derived)" \
  '[ $? -eq 0 ] && [ "$(wc -l <"$tmp/rs/train.csv")" -eq 7 ]'
check "2 ranks, then 1 process == 2 ranks, bit for bit" \
  'cmp -s "$tmp/rs/model.safetensors" "$tmp/r2/model.safetensors"'
mpi 4 train $T --steps 6 --out "$tmp/rs4" --stop-at 3 >/dev/null 2>"$tmp/err"
mpi 2 train $T --steps 6 --out "$tmp/rs4" --resume >/dev/null 2>"$tmp/err"
check "2 ranks resume a 4-rank run (--accum 2 derived)" '[ $? -eq 0 ]'
if [ $have_numpy = 1 ]; then
  cmp_w "$tmp/r4/model.safetensors" "$tmp/rs4/model.safetensors" --max "$TOL" >"$tmp/cmp"
  check "4 ranks, then 2 ranks x 2 == 4 ranks within $TOL ($(cat "$tmp/cmp"))" '[ $? -eq 0 ]'
else
  skip "4 ranks, then 2: /usr/bin/python3 has no numpy"
fi

# a rank dies before step 5 (checkpoint at step 3)
mpi 2 train $T --steps 6 --out "$tmp/f" --inject-rank-failure 1:5 >/dev/null 2>"$tmp/err"; rc=$?
check "a dying rank ends the job, naming the rank" \
  '[ $rc -ne 0 ] && grep -q "rank 1: --inject-rank-failure: exiting before step 5" "$tmp/err"'
u2 info --model "$tmp/f/checkpoint.safetensors" >/dev/null 2>&1
check "the last checkpoint (step 3) loads" '[ $? -eq 0 ] && [ "$(ckpt_step "$tmp/f/checkpoint.safetensors")" = 3 ]'
mpi 2 train $T --steps 6 --out "$tmp/f" --resume >/dev/null 2>"$tmp/err"
check "--resume on 2 ranks finishes it" '[ $? -eq 0 ]'
check "killed + resumed == uninterrupted on 2 ranks, bit for bit" \
  'cmp -s "$tmp/f/model.safetensors" "$tmp/r2/model.safetensors"'

# a rank hangs: the survivors give up, rank 0 names it
mpi 2 train $T --steps 6 --out "$tmp/h" --inject-rank-failure 1:4:hang --dist-timeout 2 >/dev/null 2>"$tmp/err"; rc=$?
check "a hanging rank: rank 0 times out naming it" \
  '[ $rc -ne 0 ] && grep -q "^unimo2: rank 0: gradient all-reduce: no progress for 2 s at step 4.*silent: rank 1 (last heard from at step 3)" "$tmp/err"'
check "the message says where the last checkpoint is" 'grep -q "last checkpoint (step 3) stays in" "$tmp/err"'

# SIGTERM to one rank
mpi 2 train $T --steps 100000 --out "$tmp/s" >/dev/null 2>"$tmp/err" &
mp=$!
i=0
rows() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
while [ $i -lt 100 ] && [ "$(rows "$tmp/s/train.csv")" -lt 3 ]; do sleep 0.1; i=$((i + 1)); done
rank_pid=$(ps -o pid= --ppid $mp | tail -n 1)
[ -n "$rank_pid" ] && kill -TERM $rank_pid
wait $mp
check "SIGTERM to one rank stops both at one step, one checkpoint" \
  'grep -q "interrupted at step" "$tmp/err" && [ "$(ckpt_step "$tmp/s/checkpoint.safetensors")" = "$(tail -n 1 "$tmp/s/train.csv" | cut -d, -f1)" ]'
tap_done
