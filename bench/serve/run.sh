#!/usr/bin/env bash
# Load run of `idgen serve` next to the bare baseline (bench/serve/baseline),
# on this machine, over loopback: `make bench-serve` (DURATION=10s by
# default). Servers run on CPU 0 and the load drivers on CPU 1 (taskset), so
# a server has one core whoever drives it. Drivers: wrk (HTTP/1.1) and h2load
# (gRPC over h2c) from Debian's packages, and bench/serve/load (both
# protocols, latency percentiles, fixed-rate runs, duplicate check).
set -euo pipefail

DURATION=${DURATION:-10s}
SECS=${DURATION%s}
CONNS=${CONNS:-32}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

for tool in wrk h2load redis-server taskset; do
	command -v "$tool" >/dev/null || { echo "bench-serve: $tool is missing: apt-get install -y wrk nghttp2-client redis-server util-linux" >&2; exit 1; }
done

# busy PID CMD...: runs CMD, then prints how much of one CPU process PID
# used meanwhile (user and system time, from /proc).
busy() {
	local pid=$1 t0 t1 n0 n1
	shift
	t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	n0=$(date +%s%N)
	"$@"
	t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	n1=$(date +%s%N)
	awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v ns="$((n1 - n0))" \
		'BEGIN { printf "  the server'"'"'s CPU meanwhile: %.0f%% busy\n", 100 * t / hz / (ns / 1e9) }'
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { # url
	for _ in $(seq 1 300); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
		sleep 0.1
	done
	echo "bench-serve: $1 never answered 200" >&2
	exit 1
}

echo "== build"
(cd "$root" && go build -o "$work/idgen" ./cmd/idgen && go build -o "$work/baseline" ./bench/serve/baseline &&
	go build -o "$work/load" ./bench/serve/load && go build -o "$work/stall" ./bench/serve/stall)

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
sleep 0.3
export REDIS_URL="redis://127.0.0.1:$rport"
ns="bench-$$"
"$work/idgen" init --namespace "$ns" >/dev/null

bport=$(free_port)
taskset -c 0 "$work/baseline" --addr "127.0.0.1:$bport" 2>"$work/baseline.log" &
bpid=$!
pids+=($!)
iport=$(free_port)
taskset -c 0 "$work/idgen" serve --addr "127.0.0.1:$iport" --namespace "$ns" --workers "${WORKERS:-2}" 2>"$work/serve.log" &
ipid=$!
pids+=($!)
wait_ready "http://127.0.0.1:$iport/readyz"
wait_ready "http://127.0.0.1:$bport/v1/ids"

# gRPC requests for h2load: the 5-byte gRPC frame header, then
# NextRequest{count: 1} (field 1, varint 1).
printf '\x00\x00\x00\x00\x02\x08\x01' >"$work/next1.bin"
cat >"$work/p999.lua" <<'EOF'
done = function(summary, latency, requests)
	io.write(string.format("wrk-latency p50 %.0fus p99 %.0fus p99.9 %.0fus\n",
		latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
EOF

echo "== machine: $(nproc) CPUs, $(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\x00\x00\x00\x00\x03\x08\xe8\x07' >"$work/next1000.bin" # NextRequest{count: 1000}
# Saturation: bare and idgen in turn, ROUNDS times. The host's speed drifts
# over minutes, so each round compares runs seconds apart, and the rate
# kept for each is the median of its rounds.
ROUNDS=${ROUNDS:-3}
declare -A rates
h2() { # label connections in-flight url: prints h2load's summary; h2rate=its calls/s
	local out
	out=$(taskset -c 1 h2load -c"$2" -m"$3" -D"$SECS" --warm-up-time=1 \
		-H 'content-type: application/grpc' -H 'te: trailers' -d "$work/next1.bin" "$4/idgen.v1.IDService/Next")
	echo "$out" | grep -E '^finished in|^status codes:' | sed "s/^/$1: /"
	h2rate=$(echo "$out" | awk '/^finished in/ {printf "%d", $4}')
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for round in $(seq 1 "$ROUNDS"); do
	for target in "bare:$bport" "idgen:$iport"; do
		name=${target%%:*}
		url="http://127.0.0.1:${target##*:}"
		echo "== round $round, $name: single IDs at saturation"
		out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" -s "$work/p999.lua" "$url/v1/ids")
		echo "$out" | grep -E 'Requests/sec|wrk-latency|Non-2xx|errors' | sed "s/^/$name http wrk: /"
		rates[$name wrk]+=" $(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')"
		# gRPC twice: 4 calls in flight per connection (responses share
		# writes), and 1 (one call at a time, as the latency driver below).
		h2 "$name grpc h2load -m4" "$CONNS" 4 "$url"
		rates[$name m4]+=" $h2rate"
		h2 "$name grpc h2load -c16 -m1" 16 1 "$url"
		rates[$name m1]+=" $h2rate"
	done
done
declare -A sat
echo "== saturation, the median of $ROUNDS rounds (requests/s; idgen as a share of bare)"
for shape in "wrk:HTTP/JSON, wrk" "m4:gRPC, h2load 4 in flight" "m1:gRPC, h2load one at a time"; do
	key=${shape%%:*}
	for name in bare idgen; do
		# shellcheck disable=SC2086 # the rounds' rates, one word each
		sat[$name $key]=$(median ${rates[$name $key]})
	done
	echo "${shape#*:}: bare ${sat[bare $key]} (${rates[bare $key]# }), idgen ${sat[idgen $key]} (${rates[idgen $key]# }): $((100 * sat[idgen $key] / sat[bare $key]))%"
done
for target in "bare:$bport" "idgen:$iport"; do
	name=${target%%:*}
	url="http://127.0.0.1:${target##*:}"
	echo "== $name: single IDs at saturation through client libraries (the driver's CPU is the limit)"
	taskset -c 1 "$work/load" -url "$url" -proto http -c "$CONNS" -d "$DURATION" -label "$name"
	taskset -c 1 "$work/load" -url "$url" -proto grpc -c "$CONNS" -d "$DURATION" -label "$name"
done

# How long the machine takes a CPU away from a program that never waits:
# on each CPU alone, then on both at once (as during the latency runs below,
# where the server's CPU and the driver's are both busy most of the time).
# A request in flight on a CPU that stalls waits as long, and so does the
# queue behind it: stalls over 1 ms put a floor under p99.
echo "== the machine: CPU stalls (bench/serve/stall)"
taskset -c 0 "$work/stall" -d 5s -label "CPU 0 alone:"
taskset -c 1 "$work/stall" -d 5s -label "CPU 1 alone:"
taskset -c 0 "$work/stall" -d 5s -label "CPU 0, both busy:" >"$work/stall0.txt" &
taskset -c 1 "$work/stall" -d 5s -label "CPU 1, both busy:"
wait $!
cat "$work/stall0.txt"

# Latency at half of idgen's saturation rate, open loop, the same rate
# against both servers: HTTP at half of wrk's rate; gRPC one call at a time
# per connection at half of h2load -m1's rate, and pipelined (many calls in
# flight per connection, sent as they fall due) at half of h2load -m4's.
# "from send" leaves out the driver's own lateness in sending (it has one
# core too).
half_http=$((sat[idgen wrk] / 2))
half_grpc1=$((sat[idgen m1] / 2))
half_grpc=$((sat[idgen m4] / 2))
# Each run says how busy the server's CPU was: a call costs the server more
# CPU at a steady rate than at saturation (where one wake-up serves many),
# so half the saturation rate keeps its CPU more than half busy.
#
# A second pair of servers leaves Go's garbage collector at its default
# (--heap-floor 0; the first pair keeps a 32 MiB floor, idgen serve's
# default): with a live heap of a few MiB it collects some thirty times a
# second at these rates, and a call that meets a collection waits a
# millisecond or two.
b0port=$(free_port)
taskset -c 0 "$work/baseline" --addr "127.0.0.1:$b0port" --heap-floor 0 2>"$work/baseline0.log" &
b0pid=$!
pids+=($!)
i0port=$(free_port)
taskset -c 0 "$work/idgen" serve --addr "127.0.0.1:$i0port" --namespace "$ns" --workers "${WORKERS:-2}" --heap-floor 0 2>"$work/serve0.log" &
i0pid=$!
pids+=($!)
wait_ready "http://127.0.0.1:$i0port/readyz"
wait_ready "http://127.0.0.1:$b0port/v1/ids"
# lat LABEL PORT PID PROTO CONNS RATE: one latency run; its p99 from send
# (µs) is added to p99s[LABEL PROTO].
declare -A p99s
lat() {
	local out
	out=$(busy "$3" taskset -c 1 "$work/load" -url "http://127.0.0.1:$2" -proto "$4" -c "$5" -d "$DURATION" -rate "$6" -label "$1")
	echo "$out"
	p99s[$1 $4]+=" $(echo "$out" | awk '/from send/ { v = $6; sub(/,$/, "", v)
		if (v ~ /ms$/) { sub(/ms$/, "", v); v *= 1000 } else if (v ~ /µs$/) { sub(/µs$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1e6 }
		printf "%d", v }')"
}
# The host's speed drifts over minutes, so the runs go in rounds too, each
# server in turn, and the median of each's p99 is kept.
for round in $(seq 1 "$ROUNDS"); do
	for name in bare idgen "bare floor 0" "idgen floor 0"; do
		case $name in
		bare) port=$bport pid=$bpid ;;
		idgen) port=$iport pid=$ipid ;;
		"bare floor 0") port=$b0port pid=$b0pid ;;
		*) port=$i0port pid=$i0pid ;;
		esac
		echo "== round $round, $name: latency at half of idgen's saturation rate"
		lat "$name" "$port" "$pid" http-raw 16 "$half_http"
		lat "$name" "$port" "$pid" grpc-raw 16 "$half_grpc1"
		case $name in *"floor 0") continue ;; esac
		lat "$name" "$port" "$pid" grpc-pipe 8 "$half_grpc"
	done
done
kill "$b0pid" "$i0pid"
wait "$b0pid" "$i0pid" 2>/dev/null || true
echo "== p99 from send at half load, the median of $ROUNDS rounds (µs; the rounds)"
for proto in "http-raw:HTTP/JSON, $half_http/s" "grpc-raw:gRPC one at a time, $half_grpc1/s" "grpc-pipe:gRPC pipelined, $half_grpc/s"; do
	line="${proto#*:}:"
	for name in bare idgen "bare floor 0" "idgen floor 0"; do
		v=${p99s[$name ${proto%%:*}]:-}
		[ -n "$v" ] || continue
		# shellcheck disable=SC2086 # the rounds' p99s, one word each
		line+=" $name $(median $v) (${v# }),"
	done
	echo "${line%,}"
done

for name in bare idgen; do
	[ "$name" = bare ] && port=$bport || port=$iport
	echo "== $name: batches of 1,000 over gRPC (h2load; the bare server returns constant IDs)"
	taskset -c 1 h2load -c8 -m8 -D"$SECS" --warm-up-time=1 -H 'content-type: application/grpc' -H 'te: trailers' \
		-d "$work/next1000.bin" "http://127.0.0.1:$port/idgen.v1.IDService/Next" |
		grep -E '^finished in|^status codes:|^traffic:' | sed "s/^/$name grpc x1000 h2load: /"
done
echo "== idgen: batches of 1,000 over gRPC with the load driver, every ID checked for duplicates"
taskset -c 1 "$work/load" -url "http://127.0.0.1:$iport" -proto grpc -count 1000 -c 8 -d "$DURATION" -check -label idgen

echo "== four servers on one namespace under gRPC load; one frozen (SIGSTOP) past its TTL, then thawed"
ns4="four-$$"
"$work/idgen" init --namespace "$ns4" >/dev/null
urls=()
four=()
for i in 0 1 2 3; do
	p=$(free_port)
	taskset -c 0 "$work/idgen" serve --addr "127.0.0.1:$p" --namespace "$ns4" --ttl 2s --max-skew 300ms \
		--retry-after 100ms 2>"$work/four$i.log" &
	four+=($!)
	pids+=($!)
	urls+=("http://127.0.0.1:$p")
done
for u in "${urls[@]}"; do wait_ready "$u/readyz"; done
list=$(IFS=,; echo "${urls[*]}")
(sleep 2; kill -STOP "${four[0]}"; sleep 3; kill -CONT "${four[0]}") &
taskset -c 1 "$work/load" -url "$list" -proto grpc -count 1000 -c 8 -d 8s -check -dump "$work/during.ids" \
	-label "4 servers, server 1 frozen 3 s (TTL 2 s)" || true
taskset -c 1 "$work/load" -url "$list" -proto grpc -count 1000 -c 8 -d 3s -check -dump "$work/after.ids" \
	-label "4 servers, after the thaw"
"$work/load" -verify "$work/during.ids,$work/after.ids"
grep -h "lease" "$work/four0.log" | head -3 | sed 's/^/server 1: /' || true
