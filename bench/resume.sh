#!/usr/bin/env bash
# The cut profile of the load benchmark: one fake upstream that cuts every CUT_EVERY-th stream
# mid-way (5% by default), behind two routers alike but for `resume`: on (resume 1, every
# provider declaring `continuation prefix`, which the fake upstream honours) and off. STREAMS
# streams through each; the report counts client-visible errors (error events, streams
# without [DONE]) and streams whose assembled text is not whole. See bench/README.md.
set -euo pipefail

STREAMS=${STREAMS:-10000}
STREAM_CONC=${STREAM_CONC:-16}
CHUNKS=${CHUNKS:-20}
CUT_EVERY=${CUT_EVERY:-20}
LOG_LEVEL=${LOG_LEVEL:-ERROR}   # INFO: Caddy's log has every request's line (where it was resumed)
OUT=${OUT:-}                    # keep results.jsonl, the Caddyfile and the logs here
for v in STREAMS STREAM_CONC CHUNKS CUT_EVERY; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a whole number, not '${!v}'" >&2; exit 2; }
done

cd "$(dirname "$0")/.."
TMP=$(mktemp -d /tmp/llm-bench-resume.XXXXXX)
PIDS=()
cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ -n $OUT ]]; then
		mkdir -p "$OUT" && cp "$TMP"/*.log "$TMP"/*.jsonl "$TMP/Caddyfile" "$OUT"/ 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "bench: $*" >&2; }

if ! make -s caddy >"$TMP/build.log" 2>&1; then
	tail -20 "$TMP/build.log" >&2
	[[ -x ./caddy ]] || { log "make caddy failed and there is no ./caddy"; exit 1; }
fi
cp ./caddy "$TMP/caddy"
go build -o "$TMP/upstream" ./bench/upstream
go build -o "$TMP/load" ./bench/load
mapfile -t PORTS < <("$TMP/load" -mode ports -n 4)
UP=${PORTS[0]} P_ON=${PORTS[1]} P_OFF=${PORTS[2]} ADMIN=${PORTS[3]}
MODEL=bench-model

"$TMP/upstream" -addr "127.0.0.1:$UP" -chunks "$CHUNKS" -cut-every "$CUT_EVERY" 2>"$TMP/upstream.log" &
PIDS+=($!)

# Five providers on the one upstream, each with an upstream model id of its own (target state
# is keyed by URL, key and model: same ids would be one target), so that a target that cut a
# stream (it cools) leaves others; a 1 ms cooldown, so that cuts, which come every few ms
# here, do not exhaust the pool: this profile measures resuming, not cooldowns.
providers() {
	for p in a b c d e; do
		cat <<EOF
		provider $p {
			base_url http://127.0.0.1:$UP/v1
			model $MODEL bench-$1-$p
			continuation prefix
		}
EOF
	done
}
cat >"$TMP/Caddyfile" <<EOF
{
	admin 127.0.0.1:$ADMIN
	persist_config off
	auto_https off
	log {
		level $LOG_LEVEL
	}
}

http://127.0.0.1:$P_ON {
	bind 127.0.0.1
	llm_router {
		cooldown 1ms
		resume 1
$(providers on)
	}
}

http://127.0.0.1:$P_OFF {
	bind 127.0.0.1
	llm_router {
		cooldown 1ms
$(providers off)
	}
}
EOF
XDG_CONFIG_HOME="$TMP/xdg" XDG_DATA_HOME="$TMP/xdg" "$TMP/caddy" run --config "$TMP/Caddyfile" --adapter caddyfile >"$TMP/caddy.log" 2>&1 &
PIDS+=($!)
body='{"model":"'$MODEL'","messages":[{"role":"user","content":"hi"}]}'
for _ in $(seq 100); do
	curl -sf -o /dev/null --max-time 1 -d "$body" "http://127.0.0.1:$P_ON/v1/chat/completions" &&
		curl -sf -o /dev/null --max-time 1 -d "$body" "http://127.0.0.1:$P_OFF/v1/chat/completions" && break
	sleep 0.1
done

for target in resume_on resume_off; do
	port=$P_ON
	[[ $target == resume_off ]] && port=$P_OFF
	log "$target: $STREAMS streams, every ${CUT_EVERY}th upstream stream cut"
	"$TMP/load" -mode stream -target "$target" -url "http://127.0.0.1:$port/v1/chat/completions" \
		-n "$STREAMS" -c "$STREAM_CONC" -text "$CHUNKS" -model "$MODEL" | tee -a "$TMP/results.jsonl"
done
log "upstream: $(tail -1 "$TMP/upstream.log")"
echo
printf '%-11s %8s %8s %10s %9s %9s %12s\n' target streams errors truncated bad_text ttfb_p50 stream_p50
while read -r line; do
	python3 - "$line" <<'PY' 2>/dev/null || echo "$line"
import json, sys
r = json.loads(sys.argv[1])
print("%-11s %8d %8d %10d %9d %8.1fms %10.1fms" % (r["target"], r["requests"], r["errors"], r["truncated"],
      r.get("bad_text", 0), r.get("ttfb_p50_ms", 0), r.get("stream_p50_ms", 0)))
PY
done <"$TMP/results.jsonl"
