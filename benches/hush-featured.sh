#!/usr/bin/env bash
# A shared-harness candidate (../shared/bench/run.sh): hush with this round's features configured
# but idle: 3 groups sharing the list, 2 client entries, local records, a forward zone, DoT and
# DoH listeners. usage: benches/hush-featured.sh {port} {upstream} {blocklist} {workdir}
set -eu
port=$1 upstream=$2 blocklist=$3 work=$4
bin=${HUSH_BIN:?set HUSH_BIN to the hush binary}
mkdir -p "$work"
cd "$work"
[ -f server.crt ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=dns.test -addext subjectAltName=DNS:dns.test -keyout server.key -out server.crt 2>/dev/null
cat > "$work/hush.toml" <<CONF
[dns]
listen = ["127.0.0.1:$port"]
upstreams = ["udp://$upstream"]
rate_limit = 0
tls_listen = ["127.0.0.1:$((port + 20000))"]
https_listen = ["127.0.0.1:$((port + 21000))"]
[[dns.forward]]
zones = ["home.arpa", "168.192.in-addr.arpa"]
upstreams = ["udp://$upstream"]

[blocking]
answer = "nxdomain"
lists = ["$blocklist"]

[local]
records = { "nas.home.arpa" = "192.168.1.10", "tv.home.arpa" = ["192.168.1.20", "fd00::20"] }

[tls]
cert = "server.crt"
key = "server.key"
names = ["dns.test"]

[querylog]
enabled = ${HUSH_QUERYLOG:-true}
database = "$work/hush.db"

[api]
listen = "127.0.0.1:$((port + 10000))"

[[clients]]
name = "tablet"
match = ["192.168.1.50", "tablet"]
groups = ["default", "kids"]

[[clients]]
name = "laptop"
match = ["192.168.1.0/28"]
groups = ["default", "night"]

[[groups]]
name = "kids"
lists = ["$blocklist"]

[[groups]]
name = "night"
lists = ["$blocklist"]
schedule = { days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], from = "21:00", to = "07:00" }
CONF
rm -f "$work"/hush.db*
exec "$bin" run --config "$work/hush.toml"
