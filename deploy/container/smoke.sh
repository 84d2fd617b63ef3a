#!/usr/bin/env bash
# The image's smoke test: runs it (read-only root, a free loopback port) and checks that it serves the embedded model
# as a non-root user, that a greedy completion equals the transformers reference, that its HEALTHCHECK reports
# healthy and /livez answers, that a model mounted under /models and one from a Hugging Face cache mounted at /hf
# load, that a bad flag exits 2, and that SIGTERM (podman stop) lets an in-flight stream finish and exits 0.
# Prints "N passed, N failed".
#   bash deploy/container/smoke.sh [image]      (default localhost/actorlm:0.1.0; podman, curl and node on PATH)
set -uo pipefail
cd "$(dirname "$0")/../.."
image=${1:-localhost/actorlm:0.1.0}
passed=0
failed=0
ok() { echo "ok    $1"; passed=$((passed + 1)); }
fail() { echo "FAIL  $1"; failed=$((failed + 1)); }
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else fail "$name"; fi; }
port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
ready() { for _ in $(seq 120); do curl -sf -m 2 "127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.5; done; return 1; }
completion() { curl -s -m 60 "127.0.0.1:$1/v1/completions" -H 'content-type: application/json' \
  -d '{"prompt":"In the beginning","max_tokens":40,"temperature":0}' | node -e 'let d="";process.stdin.on("data",(c)=>(d+=c)).on("end",()=>console.log(JSON.parse(d).choices[0].text))'; }
expected=$(node -e 'console.log(require("./test/fixtures/kjv-llama.json").prompts[0].greedy_text)')
names=()
trap 'podman rm -f "${names[@]}" >/dev/null 2>&1; rm -rf "$hf"' EXIT
hf=$(mktemp -d)

p=$(port); names+=(actorlm-smoke-$$)
podman run -d --name actorlm-smoke-$$ --read-only -p "127.0.0.1:$p:8080" "$image" >/dev/null
check "the embedded model loads: /health 200" ready "$p"
check "a greedy completion equals the transformers reference" test "$(completion "$p")" = "$expected"
check "/livez 200" curl -sf -m 5 "127.0.0.1:$p/livez"
check "HEALTHCHECK: healthy" podman healthcheck run actorlm-smoke-$$
check "runs as uid 10001" test "$(podman exec actorlm-smoke-$$ id -u)" = 10001
check "read-only root filesystem" test "$(podman exec actorlm-smoke-$$ sh -c 'touch /probe 2>&1 || true' | grep -c Read-only)" = 1
curl -sN -m 60 "127.0.0.1:$p/v1/completions" -H 'content-type: application/json' \
  -d '{"prompt":"In the beginning","max_tokens":600,"temperature":0,"stream":true}' > "$hf/stream" &
stream=$!
sleep 0.3
podman stop -t 30 actorlm-smoke-$$ >/dev/null
wait $stream
check "SIGTERM: the in-flight stream finished ([DONE])" grep -q '^data: \[DONE\]' "$hf/stream"
check "SIGTERM: exit code 0" test "$(podman inspect actorlm-smoke-$$ --format '{{.State.ExitCode}}')" = 0

p=$(port); names+=(actorlm-smoke-vol-$$)
podman run -d --name actorlm-smoke-vol-$$ --read-only -p "127.0.0.1:$p:8080" -v "$PWD/packages/kjv-llama:/models/kjv:ro" "$image" --model /models/kjv >/dev/null
check "a model mounted at /models/kjv: reference completion" sh -c "$(declare -f ready completion); ready $p && test \"\$(completion $p)\" = \"$expected\""

rev=0123456789abcdef0123456789abcdef01234567
snap="$hf/hub/models--actorlm--kjv-llama/snapshots/$rev"
mkdir -p "$snap" "$hf/hub/models--actorlm--kjv-llama/refs" && printf %s "$rev" > "$hf/hub/models--actorlm--kjv-llama/refs/main"
cp packages/kjv-llama/{config.json,generation_config.json,model.safetensors,tokenizer.json,tokenizer_config.json} "$snap/"
chmod -R a+rX "$hf"
p=$(port); names+=(actorlm-smoke-hf-$$)
podman run -d --name actorlm-smoke-hf-$$ --read-only -p "127.0.0.1:$p:8080" -v "$hf:/hf:ro" "$image" --model actorlm/kjv-llama >/dev/null
check "a Hugging Face cache mounted at /hf (--model actorlm/kjv-llama): reference completion" sh -c "$(declare -f ready completion); ready $p && test \"\$(completion $p)\" = \"$expected\""

podman run --rm "$image" --threads 0 >/dev/null 2>&1
code=$?
check "a bad flag exits 2" test "$code" = 2

echo "container smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
