#!/usr/bin/env bash
# tollgate chat against the OpenAI cookbook's api_request_parallel_processor.py, on one mock
# provider quota: wall time against the ideal, 429s, requests lost; then both killed with SIGKILL
# mid-run and run again: requests paid twice and lost.
#
# Usage: cli/benches/chat_vs_cookbook.sh PATH/TO/api_request_parallel_processor.py
#   (the script from github.com/openai/openai-cookbook, examples/; not shipped here). It needs
#   python3 with aiohttp (pip install aiohttp). Two changes are made to a copy of it, nothing
#   else: its URL check accepts http:// (the mock serves plain http on loopback), and tiktoken is
#   replaced by a module counting words x 4/3 tokens, the mock's own count (tiktoken downloads its
#   encoding at run time, which a machine without internet cannot).
# Environment: TOLLGATE (default target/release/tollgate, built if missing), REQUESTS (600),
#   WINDOW (5 s), RPW (requests per window, 100), TPW (tokens per window, 16000), LATENCY_MS
#   (200), KILL_AFTER (seconds before the SIGKILL, 8).
set -euo pipefail
COOKBOOK=${1:?usage: $0 PATH/TO/api_request_parallel_processor.py}
TOLLGATE=${TOLLGATE:-target/release/tollgate}
REQUESTS=${REQUESTS:-600} WINDOW=${WINDOW:-5} RPW=${RPW:-100} TPW=${TPW:-16000}
LATENCY_MS=${LATENCY_MS:-200} KILL_AFTER=${KILL_AFTER:-8}
[ -x "$TOLLGATE" ] || cargo build --release -p tollgate-cli
python3 -c 'import aiohttp' || { echo "needs aiohttp: pip install aiohttp" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

mkdir "$WORK/shim"
cat > "$WORK/shim/tiktoken.py" <<'PY'
"""Stands in for tiktoken: words x 4/3 tokens, rounded up (the mock provider's count)."""
import math
class _Encoding:
    def encode(self, text):
        return [0] * math.ceil(len(str(text).split()) * 4 / 3)
def get_encoding(name):
    return _Encoding()
PY
sed 's#\^https://#^https?://#g' "$COOKBOOK" > "$WORK/cookbook.py"

# The requests (5 to 33 words, max_tokens 100 to 148) and the ideal time: a quota Q per window
# W admits usage U in floor((U - 1) / Q) whole windows, plus one answer's latency.
python3 - "$WORK/requests.jsonl" <<PY > "$WORK/ideal"
import json, math, sys
tokens = 0
with open(sys.argv[1], "w") as out:
    for i in range($REQUESTS):
        words = 5 + i * 7 % 29
        content = " ".join(["word"] * words)
        max_tokens = 100 + i * 13 % 49
        tokens += max(1, math.ceil(words * 4 / 3)) + max_tokens
        out.write(json.dumps({"model": "gpt-mock", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": content}], "metadata": {"row": i}}) + "\n")
windows = max(($REQUESTS - 1) // $RPW, (tokens - 1) // $TPW)
print(windows * $WINDOW + $LATENCY_MS / 1000)
PY
IDEAL=$(cat "$WORK/ideal")

start_mock() {
    rm -f "$WORK/url"
    "$TOLLGATE" mock-server --rpm "$RPW" --tpm "$TPW" --window "$WINDOW" --latency "$LATENCY_MS" \
        > "$WORK/url" 2> "$WORK/mock.err" &
    MOCK=$!
    until [ -s "$WORK/url" ]; do sleep 0.05; done
    URL=$(head -1 "$WORK/url")/v1/chat/completions
}
stop_mock() { kill -INT "$MOCK"; wait "$MOCK" 2>/dev/null || true; }
stat() { curl -s "${URL%/v1/chat/completions}/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
now() { date +%s.%N; }
run_tollgate() {
    "$TOLLGATE" chat --requests "$RPW/${WINDOW}s" --tokens "$TPW/${WINDOW}s" --endpoint "$URL" \
        --journal "$WORK/t.journal" "$WORK/requests.jsonl" >> "$WORK/t.out" 2>> "$WORK/t.err"
}
run_cookbook() {
    PYTHONPATH="$WORK/shim" OPENAI_API_KEY=none python3 "$WORK/cookbook.py" \
        --requests_filepath "$WORK/requests.jsonl" --save_filepath "$WORK/c.out" \
        --request_url "$URL" --max_requests_per_minute $((RPW * 60 / WINDOW)) \
        --max_tokens_per_minute $((TPW * 60 / WINDOW)) --logging_level 40 2>> "$WORK/c.err"
}
answered() { # distinct rows answered in an output file
    python3 - "$1" "$2" <<'PY'
import json, sys
rows = set()
for line in open(sys.argv[1]):
    line = json.loads(line)
    if sys.argv[2] == "tollgate" and "response" in line:
        rows.add(line["metadata"]["row"])
    if sys.argv[2] == "cookbook" and isinstance(line[1], dict) and "choices" in line[1]:
        rows.add(line[2]["row"])
print(len(rows))
PY
}

printf '%-10s %-8s %8s %8s %6s %6s %6s\n' client run wall_s ideal_s ratio 429s lost
for client in tollgate cookbook; do
    rm -f "$WORK"/t.* "$WORK"/c.*
    start_mock
    began=$(now); "run_$client" || true; ended=$(now)
    wall=$(python3 -c "print(f'{$ended - $began:.1f}')")
    out=$WORK/${client:0:1}.out
    printf '%-10s %-8s %8s %8s %6s %6s %6s\n' "$client" whole "$wall" "$IDEAL" \
        "$(python3 -c "print(f'{$wall / $IDEAL:.2f}')")" "$(stat rejected)" \
        $((REQUESTS - $(answered "$out" "$client")))
    stop_mock

    # SIGKILL after KILL_AFTER seconds, then the same command again.
    rm -f "$WORK"/t.* "$WORK"/c.*
    start_mock
    "run_$client" & pid=$!
    sleep "$KILL_AFTER"; pkill -KILL -P "$pid"; kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    sleep 1 # the killed process is gone (its journal's lock with it)
    "run_$client" || true
    distinct=$(answered "$out" "$client")
    printf '%-10s %-8s %8s %8s %6s %6s %6s  (answered twice: %d)\n' "$client" killed - - - \
        "$(stat rejected)" $((REQUESTS - distinct)) $(($(stat accepted) - distinct))
    stop_mock
done
