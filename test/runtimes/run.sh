#!/usr/bin/env bash
# The core of the suite on every runtime users run besides the Node.js on PATH, each from its npm package
# (test/runtimes/fetch.mjs): vitest's runtime tests, the kjv-llama conformance and one server test on Node 22 and 24,
# and test/runtimes/core.mjs (runtime, conformance and server checks as a plain script) on Node 22, 24, Bun and Deno.
# From the repository root, after `npm run build`. Prints each part's time and ends with "N passed, N failed".
#   bash test/runtimes/run.sh [node22,node24,bun,deno]
set -uo pipefail
cd "$(dirname "$0")/../.."
names=${1:-node22,node24,bun,deno}
vitest_files=(test/runtime test/llm-model/conformance.test.ts test/server/openai-client.test.ts)
passed=0
failed=0

# adds the last "N passed, N failed" of a log to the totals; a part that printed none counts as one failure
tally() {
  local line
  line=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
  if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
  passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
  failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
}

bins=$(node test/runtimes/fetch.mjs "$names") || { echo "0 passed, 1 failed"; exit 1; }
log=$(mktemp)
while IFS=$'\t' read -r name bin version; do
  echo "== $name ($version)"
  if [[ $name == node* ]]; then
    start=$SECONDS
    report=".ci/vitest-$name.json"
    rm -f "$report"
    PATH="$(dirname "$bin"):$PATH" npx vitest run "${vitest_files[@]}" --reporter=dot --reporter=json --outputFile.json="$report" > "$log" 2>&1
    tail -5 "$log"
    if [ -f "$report" ]; then
      node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed`)' "$report" | tee "$log"
    fi
    tally "$log"
    echo "$name: vitest core in $((SECONDS - start)) s"
    run=("$bin" test/runtimes/core.mjs)
  elif [ "$name" = deno ]; then
    run=(env DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 "$bin" run --allow-all test/runtimes/core.mjs)
  else
    run=("$bin" test/runtimes/core.mjs)
  fi
  start=$SECONDS
  timeout 300 "${run[@]}" > "$log" 2>&1
  cat "$log"
  tally "$log"
  echo "$name: core.mjs in $((SECONDS - start)) s"
done <<< "$bins"
rm -f "$log"
echo "runtimes: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
