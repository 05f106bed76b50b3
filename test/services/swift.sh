#!/usr/bin/env bash
# A real S3-compatible object store for the tests and CI: OpenStack Swift with its s3api
# middleware (Debian's packages), one replica on 127.0.0.1, tempauth user test:tester/testing.
#
#   test/services/swift.sh start   # → S3 at http://127.0.0.1:${SWIFT_PORT:-18080}, region us-east-1
#   test/services/swift.sh stop    # stops everything it started
#   test/services/swift.sh pause   # stops the S3 endpoint only (an outage; storage stays warm)
#   test/services/swift.sh resume  # starts it again
#
# Swift always reads /etc/swift/swift.conf, so `start` writes it (it needs root, as CI has).
set -euo pipefail
DIR="${SWIFT_DIR:-/tmp/hyperadapt-swift}"
PORT="${SWIFT_PORT:-18080}"
# The storage servers listen on the next three ports; memcached on PORT - 6769 (11311 by default).
OBJECT_PORT=$((PORT + 1)); CONTAINER_PORT=$((PORT + 2)); ACCOUNT_PORT=$((PORT + 3))
MEMCACHED_PORT="${SWIFT_MEMCACHED_PORT:-$((PORT - 6769))}"

stop() {
  if [ -f "$DIR/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$DIR/pids"
    for _ in $(seq 1 50); do
      alive=0
      while read -r pid; do kill -0 "$pid" 2>/dev/null && alive=1; done < "$DIR/pids"
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$DIR/pids"
    rm -f "$DIR/pids"
  fi
}

server_conf() { # kind port
  cat > "$DIR/$1-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
devices = $DIR/srv
mount_check = false
swift_dir = $DIR
workers = 0
log_udp_host = 127.0.0.1
log_udp_port = 9

[pipeline:main]
pipeline = $1-server

[app:$1-server]
use = egg:swift#$1
CONF
}

start() {
  stop
  mkdir -p "$DIR/srv/sdb1" /etc/swift
  cat > /etc/swift/swift.conf <<CONF
[swift-hash]
swift_hash_path_suffix = hyperadapt-tests
swift_hash_path_prefix = hyperadapt-tests

[storage-policy:0]
name = Policy-0
default = yes
CONF
  cp /etc/swift/swift.conf "$DIR/swift.conf"
  server_conf account "$ACCOUNT_PORT"
  server_conf container "$CONTAINER_PORT"
  server_conf object "$OBJECT_PORT"
  cat > "$DIR/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PORT
swift_dir = $DIR
workers = 0
log_udp_host = 127.0.0.1
log_udp_port = 9

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MEMCACHED_PORT

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

# s3api's multipart uploads are static large objects.
[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging
CONF
  if [ ! -f "$DIR/object.ring.gz" ] || [ "$(cat "$DIR/ring-ports" 2>/dev/null)" != "$PORT" ]; then
    /usr/bin/python3 - "$DIR" "$ACCOUNT_PORT" "$CONTAINER_PORT" "$OBJECT_PORT" <<'PY'
import sys
from swift.common.ring import RingBuilder
d = sys.argv[1]
for kind, port in (('account', int(sys.argv[2])), ('container', int(sys.argv[3])), ('object', int(sys.argv[4]))):
    b = RingBuilder(8, 1, 1)
    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'device': 'sdb1', 'weight': 100})
    b.rebalance()
    b.save(f'{d}/{kind}.builder')
    b.get_ring().save(f'{d}/{kind}.ring.gz')
PY
    echo "$PORT" > "$DIR/ring-ports"
  fi
  : > "$DIR/pids"
  memcached -l 127.0.0.1 -p "$MEMCACHED_PORT" -u root -m 64 > "$DIR/memcached.log" 2>&1 &
  echo $! >> "$DIR/pids"
  for kind in account container object; do
    "swift-$kind-server" "$DIR/$kind-server.conf" > "$DIR/$kind.log" 2>&1 &
    echo $! >> "$DIR/pids"
  done
  start_proxy
}

start_proxy() {
  swift-proxy-server "$DIR/proxy-server.conf" > "$DIR/proxy.log" 2>&1 &
  echo $! > "$DIR/proxy.pid"
  echo $! >> "$DIR/pids"
  for _ in $(seq 1 150); do
    if curl -fsS "http://127.0.0.1:$PORT/healthcheck" >/dev/null 2>&1; then
      echo "swift: S3 at http://127.0.0.1:$PORT (access key test:tester, secret testing)"
      return 0
    fi
    sleep 0.1
  done
  echo "swift: the proxy did not come up; logs in $DIR" >&2
  tail -n 20 "$DIR"/*.log >&2 || true
  return 1
}

pause() {
  [ -f "$DIR/proxy.pid" ] || return 0
  pid=$(cat "$DIR/proxy.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$DIR/proxy.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  pause) pause ;;
  resume) start_proxy ;;
  *) echo "usage: $0 start|stop|pause|resume" >&2; exit 2 ;;
esac
