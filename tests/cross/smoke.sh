#!/usr/bin/env bash
# Smoke test of a real Tern binary, typically a cross-built one run under qemu-user:
#   tests/cross/smoke.sh BINARY [EMULATOR ARGS...]
#   tests/cross/smoke.sh build-arm64/broker/app/tern qemu-aarch64 -L /
# Starts the broker on 127.0.0.1, port 0, with configs/tern.yaml and persistence on (LevelDB
# in a temporary directory), reads the bound port from its "ready:" log line, then the
# native mosquitto clients exchange one QoS 1 message over MQTT 3.1.1 and one over 5.0
# (subscriber's SUBACK seen before publishing; publisher's PUBACK and the subscriber's
# delivered QoS checked). Finally SIGTERM must stop the broker with exit code 0.
# Prints one "smoke: N passed, N failed" line; exits non-zero on any failure.
set -uo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 BINARY [EMULATOR ARGS...]" >&2
  exit 2
fi
binary=$1
shift
emulator=("$@")
root=$(cd "$(dirname "$0")/../.." && pwd)
# Under emulation everything is ~5-20x slower than native: generous, bounded waits.
start_timeout=${SMOKE_START_TIMEOUT:-60}
client_timeout=${SMOKE_CLIENT_TIMEOUT:-30}

for tool in mosquitto_sub mosquitto_pub; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool not found (mosquitto-clients)" >&2; exit 2; }
done
[ -x "$binary" ] || { echo "smoke: $binary is not an executable" >&2; exit 2; }

work=$(mktemp -d)
broker_pid=""
sub_pid=""
cleanup() {
  for pid in $sub_pid $broker_pid; do
    kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { echo "smoke: ok   $1"; passed=$((passed + 1)); }
fail() { echo "smoke: FAIL $1"; failed=$((failed + 1)); }
finish() {
  echo "smoke: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
show_log() { sed 's/^/  broker| /' "$work/broker.log"; }

# ---- start
"${emulator[@]}" "$binary" --config "$root/configs/tern.yaml" -p 0 --bind 127.0.0.1 \
  --data-dir "$work/data" >"$work/broker.log" 2>&1 &
broker_pid=$!
port=""
for _ in $(seq $((start_timeout * 10))); do
  port=$(sed -n 's/.*ready: .*mqtt=127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/broker.log" | head -n1)
  [ -n "$port" ] && break
  kill -0 "$broker_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  fail "broker ready within ${start_timeout}s"
  show_log
  finish
fi
pass "broker ready on 127.0.0.1:$port ($(grep -o 'tern [0-9][^ ,]*' "$work/broker.log" | head -n1))"

# ---- one QoS 1 message per protocol version
for version in mqttv311 mqttv5; do
  topic="smoke/$version/$$"
  payload="hello-$version-$RANDOM"
  sub_out="$work/sub-$version.out"
  # -F: delivered QoS, topic and payload on one line; -d: protocol trace (SUBACK) on stdout,
  # line-buffered (stdbuf) so that the SUBACK can be seen while the client runs.
  timeout "$client_timeout" stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -V "$version" -q 1 \
    -i "smoke-sub-$version" -t "$topic" -C 1 -d -F 'message %q %t %p' >"$sub_out" 2>&1 &
  sub_pid=$!
  for _ in $(seq $((client_timeout * 10))); do
    grep -q 'received SUBACK' "$sub_out" && break
    kill -0 "$sub_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q 'received SUBACK' "$sub_out"; then
    fail "$version: subscribe (no SUBACK)"
    sed 's/^/  sub| /' "$sub_out"
    continue
  fi
  pub_out="$work/pub-$version.out"
  if timeout "$client_timeout" mosquitto_pub -h 127.0.0.1 -p "$port" -V "$version" -q 1 \
       -i "smoke-pub-$version" -t "$topic" -m "$payload" -d >"$pub_out" 2>&1 \
     && grep -q 'received PUBACK' "$pub_out"; then
    pass "$version: QoS 1 publish acknowledged (PUBACK)"
  else
    fail "$version: QoS 1 publish acknowledged (PUBACK)"
    sed 's/^/  pub| /' "$pub_out"
  fi
  wait "$sub_pid"
  sub_rc=$?
  sub_pid=""
  if [ "$sub_rc" -eq 0 ] && grep -qxF "message 1 $topic $payload" "$sub_out"; then
    pass "$version: subscriber received the message at QoS 1"
  else
    fail "$version: subscriber received the message at QoS 1 (exit $sub_rc)"
    sed 's/^/  sub| /' "$sub_out"
  fi
done

# ---- clean stop
kill -TERM "$broker_pid"
stopped=0
for _ in $(seq $((start_timeout * 10))); do
  kill -0 "$broker_pid" 2>/dev/null || { stopped=1; break; }
  sleep 0.1
done
if [ $stopped -eq 1 ]; then
  wait "$broker_pid"
  rc=$?
  broker_pid=""
  if [ "$rc" -eq 0 ]; then pass "SIGTERM: exit code 0"; else fail "SIGTERM: exit code $rc"; fi
else
  fail "SIGTERM: broker still running after ${start_timeout}s"
fi
[ "$failed" -eq 0 ] || show_log
finish
