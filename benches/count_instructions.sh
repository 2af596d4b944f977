#!/usr/bin/env bash
# Instructions per query of hush's DNS path, counted by callgrind: a measure that neighbours and
# hypervisor steal on a shared box cannot blur (benches/README.md, round ten).
#
# usage: benches/count_instructions.sh plain|featured allowed|blocked [queries]
# env:   HUSH_BIN (default target/release/hush), HUSH_QUERYLOG (default false: the DNS path
#        alone), PORT (default 25400). Needs valgrind, dnsperf, dnsmasq and the shared harness's
#        lists (../shared/bench/lib/gen_lists.py, in /tmp/bench/lists).
#
# hush runs under callgrind with the harness's 100k-rule list (plain: candidates/hush.sh;
# featured: benches/hush-featured.sh), is warmed with every popular name, its counters are
# zeroed, the pass is sent (1,000 cache-hit names repeated, or distinct blocked names), and the
# counters are dumped and divided by the queries answered.
set -eu
config=${1:?plain or featured} set=${2:?allowed or blocked} count=${3:-20000}
here=$(cd "$(dirname "$0")" && pwd)
bin=${HUSH_BIN:-$here/../target/release/hush}
lists=/tmp/bench/lists port=${PORT:-25400} upstream_port=25353
work=$(mktemp -d /tmp/hush-instructions.XXXXXX)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; [ -n "${up:-}" ] && kill "$up" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

case $config in
plain) candidate=$here/../../shared/bench/candidates/hush.sh ;;
featured) candidate=$here/hush-featured.sh ;;
*) echo "config: plain or featured" >&2; exit 2 ;;
esac
case $set in
allowed) for _ in $(seq $(( (count + 999) / 1000 ))); do cat "$lists/q_allowed.txt"; done | head -n "$count" > "$work/queries.txt" ;;
blocked) head -n "$count" "$lists/q_blocked_100000.txt" > "$work/queries.txt" ;;
*) echo "set: allowed or blocked" >&2; exit 2 ;;
esac

if ! python3 "$here/../../shared/bench/lib/dnsprobe.py" check "$upstream_port" any.example | grep -q allowed; then
  dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=$upstream_port --listen-address=127.0.0.1 \
    --bind-interfaces --address=/#/203.0.113.7 --local-ttl=300 --cache-size=0 --pid-file= >/dev/null 2>&1 &
  up=$!
  sleep 0.5
fi

cat > "$work/hush-under-callgrind" <<WRAP
#!/usr/bin/env bash
exec valgrind --tool=callgrind --callgrind-out-file=$work/callgrind.%p "$bin" "\$@"
WRAP
chmod +x "$work/hush-under-callgrind"
HUSH_BIN=$work/hush-under-callgrind HUSH_QUERYLOG=${HUSH_QUERYLOG:-false} \
  "$candidate" "$port" "127.0.0.1:$upstream_port" "$lists/blocklist_100000.txt" "$work/hush" \
  > "$work/hush.log" 2>&1 &
pid=$!
python3 "$here/../../shared/bench/lib/dnsprobe.py" wait "$port" "$(head -1 "$lists/probe_100000.txt")" \
  "$(date +%s.%N)" 120 "$pid" blocked > /dev/null
dnsperf -s 127.0.0.1 -p "$port" -d "$lists/q_warm.txt" -c 1 -q 20 -n 1 -t 30 > /dev/null 2>&1
sleep 2
callgrind_control -z "$pid" > /dev/null 2>&1
dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -c 1 -q 20 -n 1 -t 30 > "$work/pass.txt" 2>&1
callgrind_control -d "$pid" > /dev/null 2>&1
sleep 1
answered=$(awk '/Queries completed/ {print $3}' "$work/pass.txt")
instructions=$(awk '/^(summary|totals):/ {print $2; exit}' "$work"/callgrind.*.1)
echo "$config $set: $answered queries, $(( instructions / answered )) instructions per query"
