#!/bin/sh
# The long fuzz run (issue 7): the same properties as CI's bounded run of
# packages/jwt-auth/test/fuzz.test.ts, with many more cases each.
#   scripts/fuzz-long.sh                 20 000 runs per property
#   FUZZ_RUNS=200000 scripts/fuzz-long.sh
#   FUZZ_SEED=<seed> FUZZ_PATH=<path> scripts/fuzz-long.sh   replay a failure fast-check printed
set -eu
cd "$(dirname "$0")/.."
export FUZZ_RUNS="${FUZZ_RUNS:-20000}"
echo "fuzz: FUZZ_RUNS=$FUZZ_RUNS${FUZZ_SEED:+ FUZZ_SEED=$FUZZ_SEED}"
# No per-test timeout and no coverage instrumentation: this run is about volume.
exec npx tap --timeout=0 --disable-coverage packages/jwt-auth/test/fuzz.test.ts
