#!/bin/sh
# tollgate exec against GNU parallel and xargs on one quota: 20 command starts per second.
#
#   cargo build --release -p tollgate-cli && sh cli/benches/exec_vs_parallel.sh
#
# 1. Pace: 200 commands of 0.5 s, at most 20 starts in any second, 16 at once. Ideal wall
#    time: the last start at 9.5 s (10 windows of 20), ended at 10 s. Reported: wall time,
#    its ratio to the ideal, and the most starts in any 1-second window (what the quota counts).
#    parallel paces with --delay 0.05 (1/20 s between starts); xargs has no pacing at all.
# 2. Stops: 3000 commands appending their line to a file, 8 at once, stopped after 2 s with
#    SIGINT, SIGTERM or SIGKILL, then resumed the tool's way (tollgate: the same command;
#    parallel: --joblog + --resume; xargs: no resume, the lines not done are lost). Reported:
#    lines never done (lost) and lines done twice.
set -eu
TOLLGATE=$(realpath "${TOLLGATE:-$(dirname "$0")/../../target/release/tollgate}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

most_in_window() { # most starts (nanosecond stamps, one a line) in any 1-second window
    sort -n "$1" | awk '{ t[NR] = $1 } END { j = 1; best = 0
        for (i = 1; i <= NR; i++) { while (t[i] - t[j] >= 1e9) j++; if (i - j + 1 > best) best = i - j + 1 }
        print best }'
}

pace() { # NAME COMMAND...: runs COMMAND on `seq 200`, prints its row
    name=$1; shift
    rm -f starts
    begun=$(date +%s%N)
    seq 200 | "$@" >/dev/null 2>&1
    ended=$(date +%s%N)
    awk -v name="$name" -v ns=$((ended - begun)) -v most="$(most_in_window starts)" \
        'BEGIN { printf "| %-28s | %5.1f s | %4.2fx | %3s |\n", name, ns / 1e9, ns / 1e10, most }'
}

JOB='date +%s%N >> starts; sleep 0.5'
echo "| pace: 200 x 0.5 s at 20/s, 16 at once | wall | vs ideal 10 s | most starts in 1 s |"
echo "|---|---|---|---|"
pace "tollgate exec --rate 20/s" "$TOLLGATE" exec --rate 20/s --concurrency 16 --no-journal -- sh -c "$JOB" _ {}
pace "tollgate exec 20/s, burst 1" "$TOLLGATE" exec --rate "20/s, burst 1" --concurrency 16 --no-journal -- sh -c "$JOB" _ {}
pace "parallel -j16 --delay 0.05" parallel -j16 --delay 0.05 sh -c "'$JOB'" _ {}
pace "xargs -P16" xargs -P16 -I{} sh -c "$JOB" _ {}

stop() { # NAME SIGNAL RESUME COMMAND...: stops COMMAND after 2 s, resumes, prints lost / twice
    name=$1; signal=$2; resume=$3; shift 3
    rm -f done joblog tollgate-exec-*.journal
    seq 3000 > lines
    # A script's background job starts with SIGINT ignored: restored first, as in a terminal.
    python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
        "$@" < lines >/dev/null 2>&1 &
    pid=$!
    sleep 2
    kill "-$signal" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    sleep 1 # let commands orphaned by a SIGKILL finish
    if [ "$resume" = yes ]; then "$@" < lines >/dev/null 2>&1 || true; fi
    lost=$(sort -n done | uniq | comm -13 - "$(sort -n lines > sorted; echo sorted)" | wc -l)
    twice=$(sort -n done | uniq -d | wc -l)
    printf '| %-10s | %-7s | %5s | %5s |\n' "$name" "$signal" "$lost" "$twice"
}

APPEND='echo "$1" >> done'
echo
echo "| stop after 2 s, then resume (3000 lines, 8 at once) | signal | lines lost | lines done twice |"
echo "|---|---|---|---|"
for signal in INT TERM KILL; do
    stop tollgate "$signal" yes "$TOLLGATE" exec --rate 1000/s --concurrency 8 -- sh -c "$APPEND" _ {}
    stop parallel "$signal" yes parallel -j8 --joblog joblog --resume sh -c "'$APPEND'" _ {}
    stop xargs "$signal" no xargs -P8 -I{} sh -c "$APPEND" _ {}
done
