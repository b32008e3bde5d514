#!/usr/bin/env bash
# Loopback load benchmark: the fake upstream directly vs Caddy's reverse_proxy vs llm_router,
# interleaved over rounds in one run, reported as medians and ratios. See bench/README.md.
# Every setting is an environment variable; the defaults take about 3 minutes.
set -euo pipefail

ROUNDS=${ROUNDS:-3}                  # interleaved rounds
SAT_SECONDS=${SAT_SECONDS:-4}        # saturation run length, per target per round
SAT_CONC=${SAT_CONC:-32}             # saturation keep-alive workers
RATE=${RATE:-1000}                   # fixed-rate test, requests per second
RATE_SECONDS=${RATE_SECONDS:-5}      # fixed-rate run length
STREAMS=${STREAMS:-1000}             # streamed requests per stream run
STREAM_CONC=${STREAM_CONC:-8}        # their concurrency
CHUNKS=${CHUNKS:-20}                 # content chunks per streamed reply
STREAM_DELAY_MS=${STREAM_DELAY_MS:-0} # pause between chunks in the stream test (0: one write)
WARMUP_SECONDS=${WARMUP_SECONDS:-1}  # unrecorded saturation per target before round 1
LAT_STREAMS=${LAT_STREAMS:-1000}     # streams one at a time per target and round: latency without queueing (0: skip)
MEM_STREAMS=${MEM_STREAMS:-1000}     # memory test: concurrent slow streams (0: skip)
MEM_SECONDS=${MEM_SECONDS:-5}        # how long each slow stream lasts
MEM_TARGETS=${MEM_TARGETS:-"llm_router reverse_proxy"}
PROFILE_SECONDS=${PROFILE_SECONDS:-0} # >0: CPU profiles of Caddy saturated through each proxy
TARGETS=${TARGETS:-"direct reverse_proxy llm_router llm_router_h1 reverse_proxy_tls llm_router_tls"} # interleaved targets
PROFILE_TARGETS=${PROFILE_TARGETS:-"reverse_proxy llm_router reverse_proxy_tls llm_router_tls"}
PIN=${PIN:-1}                        # taskset: servers on CPU 0, load generator on CPU 1
OUT=${OUT:-}                         # keep results.jsonl, the Caddyfile, logs and profiles here

cd "$(dirname "$0")/.."
ROOT=$(pwd)
for v in ROUNDS SAT_SECONDS SAT_CONC RATE RATE_SECONDS STREAMS STREAM_CONC CHUNKS STREAM_DELAY_MS WARMUP_SECONDS \
	LAT_STREAMS MEM_STREAMS MEM_SECONDS PROFILE_SECONDS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a whole number, not '${!v}'" >&2; exit 2; }
done
((ROUNDS >= 1 && ROUNDS <= 20)) || { echo "ROUNDS must be 1..20" >&2; exit 2; }
((CHUNKS >= 1)) || { echo "CHUNKS must be at least 1" >&2; exit 2; }

TMP=$(mktemp -d /tmp/llm-bench.XXXXXX)
PIDS=()
cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	if [[ -n $OUT ]]; then
		mkdir -p "$OUT" && cp -r "$TMP"/. "$OUT"/ 2>/dev/null || true
		rm -f "$OUT/caddy" "$OUT/load" "$OUT/upstream"
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# CPU pinning.
SRV=() GEN=() PINNED="unpinned"
if ((PIN)) && command -v taskset >/dev/null && (($(nproc) >= 2)) && taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
	SRV=(taskset -c 0) GEN=(taskset -c 1) PINNED="pinned: servers on CPU 0, load generator on CPU 1"
fi

# Build: Caddy through the Makefile, the two Go programs into the temp dir.
if ! make -s caddy >"$TMP/build.log" 2>&1; then
	tail -20 "$TMP/build.log" >&2
	[[ -x ./caddy ]] || { log "make caddy failed and there is no ./caddy"; exit 1; }
	log "make caddy failed; using the existing ./caddy"
fi
cp ./caddy "$TMP/caddy" # a private copy: others may rebuild ./caddy during the run
go build -o "$TMP/upstream" ./bench/upstream
go build -o "$TMP/load" ./bench/load
LOAD=("${GEN[@]}" "$TMP/load")
CLK=$(getconf CLK_TCK 2>/dev/null || echo 100)

mapfile -t PORTS < <("$TMP/load" -mode ports -n 13)
((${#PORTS[@]} == 13)) || { log "could not find free ports"; exit 1; }
UP=${PORTS[0]} SLOW=${PORTS[1]} P_RP=${PORTS[2]} P_LR=${PORTS[3]} P_MRP=${PORTS[4]} P_MLR=${PORTS[5]} ADMIN=${PORTS[6]}
UPT=${PORTS[7]} P_RPT=${PORTS[8]} P_LRT=${PORTS[9]} P_LRH=${PORTS[10]} P_LRT11=${PORTS[11]} P_RPT11=${PORTS[12]}
MODEL=bench-model

# The fake upstream serves http:// on $UP and https:// on $UPT, with a CA it makes at start and
# writes to $TMP/ca.pem: both proxies are told to trust it, and nothing else is.
"${SRV[@]}" "$TMP/upstream" -addr "127.0.0.1:$UP" -tls-addr "127.0.0.1:$UPT" -tls-dir "$TMP" \
	-chunks "$CHUNKS" -delay "${STREAM_DELAY_MS}ms" 2>"$TMP/upstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")
SLOW_DELAY_MS=$((MEM_SECONDS * 1000 / CHUNKS))
"${SRV[@]}" "$TMP/upstream" -addr "127.0.0.1:$SLOW" -chunks "$CHUNKS" -delay "${SLOW_DELAY_MS}ms" 2>"$TMP/upstream-slow.log" &
PIDS+=($!)

for _ in $(seq 100); do [[ -s $TMP/ca.pem ]] && break; sleep 0.1; done
[[ -s $TMP/ca.pem ]] || { log "the upstream wrote no CA"; tail -5 "$TMP/upstream.log" >&2; exit 1; }

# One Caddy, both proxies configured alike: no access logs, error-level logging, the same
# idle-connection pool size as the router's transport (256 per host; Caddy's default is 32).
# llm_router_h1 puts its http:// node on the router's own HTTP/1.1 client (transport h1);
# reverse_proxy_tls11 and llm_router_tls11 (not in the default TARGETS) speak HTTP/1.1 over
# TLS (versions 1.1 on both).
# The _tls sites reach the upstream over https:// (HTTP/2, as both negotiate it), trusting
# the run's CA. The mem_ sites point at the slow upstream and serve only the memory test.
cat >"$TMP/Caddyfile" <<EOF
{
	admin 127.0.0.1:$ADMIN
	persist_config off
	auto_https off
	log {
		level ERROR
	}
}

http://127.0.0.1:$P_RP {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$UP {
		transport http {
			keepalive_idle_conns_per_host 256
		}
	}
}

http://127.0.0.1:$P_LR {
	bind 127.0.0.1
	llm_router {
		provider bench {
			base_url http://127.0.0.1:$UP/v1
			model $MODEL bench-1
		}
	}
}

http://127.0.0.1:$P_RPT {
	bind 127.0.0.1
	reverse_proxy https://127.0.0.1:$UPT {
		transport http {
			tls_trust_pool file $TMP/ca.pem
			keepalive_idle_conns_per_host 256
		}
	}
}

http://127.0.0.1:$P_LRT {
	bind 127.0.0.1
	llm_router {
		provider bench {
			base_url https://127.0.0.1:$UPT/v1
			model $MODEL bench-1
			transport {
				tls_trusted_ca_certs $TMP/ca.pem
			}
		}
	}
}

http://127.0.0.1:$P_LRH {
	bind 127.0.0.1
	llm_router {
		provider bench {
			base_url http://127.0.0.1:$UP/v1
			model $MODEL bench-1
			transport h1
		}
	}
}

http://127.0.0.1:$P_RPT11 {
	bind 127.0.0.1
	reverse_proxy https://127.0.0.1:$UPT {
		transport http {
			tls_trust_pool file $TMP/ca.pem
			keepalive_idle_conns_per_host 256
			versions 1.1
		}
	}
}

http://127.0.0.1:$P_LRT11 {
	bind 127.0.0.1
	llm_router {
		provider bench {
			base_url https://127.0.0.1:$UPT/v1
			model $MODEL bench-1
			transport {
				tls_trusted_ca_certs $TMP/ca.pem
				versions 1.1
			}
		}
	}
}

http://127.0.0.1:$P_MRP {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$SLOW {
		transport http {
			keepalive_idle_conns_per_host 256
		}
	}
}

http://127.0.0.1:$P_MLR {
	bind 127.0.0.1
	llm_router {
		provider bench {
			base_url http://127.0.0.1:$SLOW/v1
			model $MODEL bench-1
		}
	}
}
EOF

CADDY_PID=
start_caddy() {
	XDG_CONFIG_HOME="$TMP/xdg" XDG_DATA_HOME="$TMP/xdg" \
		"${SRV[@]}" "$TMP/caddy" run --config "$TMP/Caddyfile" --adapter caddyfile >>"$TMP/caddy.log" 2>&1 &
	CADDY_PID=$!
	PIDS+=("$CADDY_PID")
	local body='{"model":"'$MODEL'","messages":[{"role":"user","content":"hi"}]}'
	for _ in $(seq 100); do
		if curl -sf -o /dev/null --max-time 1 -d "$body" "http://127.0.0.1:$P_LR/v1/chat/completions" &&
			curl -sf -o /dev/null --max-time 1 -d "$body" "http://127.0.0.1:$P_RP/v1/chat/completions" &&
			curl -sf -o /dev/null --max-time 1 -d "$body" "http://127.0.0.1:$P_LRT/v1/chat/completions" &&
			curl -sf -o /dev/null --max-time 1 -d "$body" "http://127.0.0.1:$P_RPT/v1/chat/completions"; then
			return 0
		fi
		kill -0 "$CADDY_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "Caddy did not come up; its log:"
	tail -20 "$TMP/caddy.log" >&2
	exit 1
}
stop_caddy() {
	kill "$CADDY_PID" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$CADDY_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$CADDY_PID" 2>/dev/null || true
	wait "$CADDY_PID" 2>/dev/null || true
}

for _ in $(seq 50); do
	curl -sf -o /dev/null --max-time 1 -d '{}' "http://127.0.0.1:$UP/v1/chat/completions" && break
	sleep 0.1
done
start_caddy

url_of() {
	case $1 in
	direct) echo "http://127.0.0.1:$UP/v1/chat/completions" ;;
	reverse_proxy) echo "http://127.0.0.1:$P_RP/v1/chat/completions" ;;
	llm_router) echo "http://127.0.0.1:$P_LR/v1/chat/completions" ;;
	reverse_proxy_tls) echo "http://127.0.0.1:$P_RPT/v1/chat/completions" ;;
	llm_router_tls) echo "http://127.0.0.1:$P_LRT/v1/chat/completions" ;;
	llm_router_h1) echo "http://127.0.0.1:$P_LRH/v1/chat/completions" ;;
	llm_router_tls11) echo "http://127.0.0.1:$P_LRT11/v1/chat/completions" ;;
	reverse_proxy_tls11) echo "http://127.0.0.1:$P_RPT11/v1/chat/completions" ;;
	mem_reverse_proxy) echo "http://127.0.0.1:$P_MRP/v1/chat/completions" ;;
	mem_llm_router) echo "http://127.0.0.1:$P_MLR/v1/chat/completions" ;;
	esac
}

RESULTS="$TMP/results.jsonl"
: >"$RESULTS"
# run ROUND TARGET MODE ARGS...: one load generator run, its JSON line appended to the results.
run() {
	local round=$1 target=$2 mode=$3
	shift 3
	local line
	line=$("${LOAD[@]}" -mode "$mode" -target "$target" -round "$round" -url "$(url_of "$target")" \
		-model "$MODEL" -pids "caddy=$CADDY_PID,upstream=$UP_PID" -rsspid "$CADDY_PID" -clk "$CLK" "$@")
	echo "$line" >>"$RESULTS"
	echo "$line" | sed -E 's/"url":"[^"]*",//' >&2
}

{
	echo "machine: $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $PINNED"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "settings: ROUNDS=$ROUNDS SAT_SECONDS=$SAT_SECONDS SAT_CONC=$SAT_CONC RATE=$RATE RATE_SECONDS=$RATE_SECONDS" \
		"STREAMS=$STREAMS STREAM_CONC=$STREAM_CONC CHUNKS=$CHUNKS STREAM_DELAY_MS=$STREAM_DELAY_MS LAT_STREAMS=$LAT_STREAMS MEM_STREAMS=$MEM_STREAMS MEM_SECONDS=$MEM_SECONDS"
	echo "targets: $TARGETS"
	echo "caddy: $("$TMP/caddy" version | cut -d' ' -f1)"
} | tee "$TMP/header.txt" >&2

read -r -a TARGETS <<<"$TARGETS"
NT=${#TARGETS[@]}
if ((WARMUP_SECONDS > 0)); then
	for t in "${TARGETS[@]}"; do
		run 0 "$t" sat -c "$SAT_CONC" -d "${WARMUP_SECONDS}s" >/dev/null 2>&1
	done
fi
# Peak RSS over the rounds only, not the warm-up: reset VmHWM where the kernel allows it.
echo 5 >"/proc/$CADDY_PID/clear_refs" 2>/dev/null || log "could not reset Caddy's VmHWM; it includes start-up and warm-up"

for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	for ((i = 0; i < NT; i++)); do order+=("${TARGETS[$(((i + r - 1) % NT))]}"); done
	log "round $r/$ROUNDS: ${order[*]}"
	for t in "${order[@]}"; do run "$r" "$t" sat -c "$SAT_CONC" -d "${SAT_SECONDS}s"; done
	for t in "${order[@]}"; do run "$r" "$t" rate -rate "$RATE" -d "${RATE_SECONDS}s"; done
	for t in "${order[@]}"; do run "$r" "$t" stream -n "$STREAMS" -c "$STREAM_CONC"; done
	if ((LAT_STREAMS > 0)); then
		for t in "${order[@]}"; do run "$r" "$t" stream1 -n "$LAT_STREAMS"; done
	fi
done

# Optional CPU profiles from Caddy's admin endpoint (/debug/pprof/), under saturation with
# non-streamed requests (sat) and with streams (stream), through each proxy.
if ((PROFILE_SECONDS > 0)); then
	for m in sat stream; do
		for t in $PROFILE_TARGETS; do
			log "profiling Caddy for ${PROFILE_SECONDS}s: $m through $t"
			if [[ $m == sat ]]; then
				args=(-c "$SAT_CONC" -d "$((PROFILE_SECONDS + 2))s")
			else
				args=(-n 1000000 -c "$STREAM_CONC" -stopafter "$((PROFILE_SECONDS + 2))s")
			fi
			"${LOAD[@]}" -mode "$m" -target "$t" -url "$(url_of "$t")" -model "$MODEL" "${args[@]}" \
				>"$TMP/profile-load-$m-$t.json" &
			lp=$!
			sleep 1
			curl -sf --max-time $((PROFILE_SECONDS + 10)) -o "$TMP/cpu-$m-$t.pprof" \
				"http://127.0.0.1:$ADMIN/debug/pprof/profile?seconds=$PROFILE_SECONDS" || log "profile of $m $t failed"
			wait "$lp" || true
			go tool pprof -top -cum -nodecount=40 "$TMP/caddy" "$TMP/cpu-$m-$t.pprof" >"$TMP/cpu-$m-$t.top" 2>/dev/null || true
		done
	done
fi

# Memory: a fresh Caddy per target, so heap kept from earlier tests does not hide the growth.
if ((MEM_STREAMS > 0)); then
	for t in $MEM_TARGETS; do
		stop_caddy
		start_caddy
		# An unrecorded burst straight to the slow upstream first: the first burst of 2,000 new
		# connections after the rounds is slower than the next, in the load generator, the
		# kernel and the upstream alike, and it would be charged to the first target.
		"${LOAD[@]}" -mode stream -target warm -url "http://127.0.0.1:$SLOW/v1/chat/completions" -model "$MODEL" \
			-n "$MEM_STREAMS" -c "$MEM_STREAMS" -timeout "$((MEM_SECONDS * 4 + 30))s" >/dev/null
		sleep 1
		log "memory: $MEM_STREAMS concurrent ${MEM_SECONDS}s streams through $t"
		run 1 "mem_$t" stream -n "$MEM_STREAMS" -c "$MEM_STREAMS" -timeout "$((MEM_SECONDS * 4 + 30))s"
	done
fi

{
	echo
	cat "$TMP/header.txt"
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	"$TMP/load" -mode report -in "$RESULTS"
	for f in "$TMP"/cpu-*.top; do
		if [[ -s $f ]]; then
			echo "CPU profile (go tool pprof -top -cum): ${OUT:-$TMP}/$(basename "$f")"
		fi
	done
} | tee "$TMP/report.txt"
