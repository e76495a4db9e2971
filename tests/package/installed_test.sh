#!/usr/bin/env bash
# Installed-package test: run after the tern .deb was installed on this machine (root;
# .ci/package.sh does both). Checks what the package put where, verifies the systemd unit,
# runs the INSTALLED binary with the INSTALLED /etc/tern/tern.yaml as user tern (only the
# listener moved to 127.0.0.1, port 0, by --bind/--port), with a fake NOTIFY_SOCKET:
# READY=1, WATCHDOG=1 at WATCHDOG_USEC/2, QoS 1 publish/subscribe with the mosquitto
# clients, a retained message that survives a restart (storage in /var/lib/tern),
# SIGTERM -> exit 0 and STOPPING=1, `tern passwd`; then dpkg -r and dpkg -P.
#   bash tests/package/installed_test.sh [--keep]   (--keep: leave the package installed)
# Prints one "installed_test: N passed, N failed" line; exits non-zero on any failure.
set -uo pipefail
keep=0
[ "${1:-}" = "--keep" ] && keep=1
[ "$(id -u)" -eq 0 ] || { echo "installed_test: run as root (dpkg, setpriv)" >&2; exit 2; }
for tool in systemd-analyze mosquitto_pub mosquitto_sub python3 setpriv; do
  command -v "$tool" >/dev/null || { echo "installed_test: $tool not found" >&2; exit 2; }
done
dpkg-query -W -f='${Status}' tern 2>/dev/null | grep -q "install ok installed" ||
  { echo "installed_test: the tern package is not installed" >&2; exit 2; }

bin=/usr/bin/tern
conf=/etc/tern/tern.yaml
unit=/lib/systemd/system/tern.service
state=/var/lib/tern
timeout_s=${INSTALLED_TEST_TIMEOUT:-20}

work=$(mktemp -d)
chmod 0755 "$work"  # the broker runs as tern and must reach the notify socket in here
broker_pid=""
notify_pid=""
sub_pid=""
cleanup() {
  for pid in $broker_pid $notify_pid $sub_pid; do
    kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
check() {  # check "what" command...
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then
    passed=$((passed + 1))
    echo "ok   - $what"
  else
    failed=$((failed + 1))
    echo "FAIL - $what"
    sed 's/^/       /' "$work/check.out" | head -20
  fi
}
# wait_for SECONDS command...: polls every 0.1 s
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# ---- what the package installed
check "binary /usr/bin/tern is executable" test -x "$bin"
check "$conf is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}\n' tern | grep -q '^ $conf '"
check "unit $unit installed" test -f "$unit"
check "system user and group tern" sh -c \
  'id tern && [ "$(id -u tern)" -lt 1000 ] && [ "$(id -gn tern)" = tern ] &&
   getent passwd tern | cut -d: -f6,7 | grep -Eq "^/var/lib/tern:/(usr/)?sbin/nologin$"'
check "$state owned by tern, mode 0750" sh -c \
  "[ \"\$(stat -c '%U:%G %a' $state)\" = 'tern:tern 750' ]"
check "systemd-analyze verify $unit" sh -c \
  "out=\$(systemd-analyze verify $unit 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
check "unit: Type=notify, watchdog, user tern, state directory" sh -c \
  "grep -qx 'Type=notify' $unit && grep -qx 'WatchdogSec=30s' $unit &&
   grep -qx 'User=tern' $unit && grep -qx 'StateDirectory=tern' $unit &&
   grep -qx 'ExecStart=/usr/bin/tern --config /etc/tern/tern.yaml' $unit"
check "tern --check-config $conf" sh -c "$bin --check-config $conf | grep -qx 'configuration OK'"
check "installed config keeps state in $state" grep -Eq '^  path: /var/lib/tern( |$)' "$conf"
schema=/usr/share/tern/tern.schema.json
check "JSON Schema $schema installed, named by the config's first line" sh -c \
  "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' $schema &&
   head -n1 $conf | grep -qx '# yaml-language-server: \$schema=$schema'"
check "tern --version names the package version" sh -c \
  "[ \"\$($bin --version)\" = \"tern \$(dpkg-query -W -f='\${Version}' tern)\" ]"

# ---- a fake systemd notify socket: one line per datagram (newlines shown as '|')
cat >"$work/notify.py" <<'PY'
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
with open(out, "a", buffering=1) as f:
    f.write("LISTENING\n")
    while True:
        f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
PY
python3 "$work/notify.py" "$work/notify.sock" "$work/notify.log" &
notify_pid=$!
wait_for 10 grep -q LISTENING "$work/notify.log" 2>/dev/null ||
  { echo "installed_test: the fake notify socket did not start" >&2; exit 1; }

# start_broker LOG: the installed binary and config as user tern, like the unit's
# User=tern; the one change is the listener: 127.0.0.1 on a free port.
start_broker() {
  : >"$1"
  setpriv --reuid tern --regid tern --init-groups --inh-caps=-all \
    env NOTIFY_SOCKET="$work/notify.sock" WATCHDOG_USEC=1000000 \
    "$bin" --config "$conf" --bind 127.0.0.1 --port 0 >"$1" 2>&1 &
  broker_pid=$!
  wait_for "$timeout_s" grep -q 'ready: ' "$1" || { cat "$1"; return 1; }
  port=$(sed -n 's/.*ready: mqtt=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" | head -1)
  [ -n "$port" ]
}
# stop_broker: SIGTERM must end it with exit code 0
stop_broker() {
  kill -TERM "$broker_pid"
  local rc=0
  wait "$broker_pid" || rc=$?
  broker_pid=""
  [ $rc -eq 0 ] || { echo "exit code $rc"; return 1; }
}
count() { grep -c "^$1" "$work/notify.log"; }

check "broker starts as tern on the installed config" start_broker "$work/broker1.log"
check "READY=1 with a STATUS naming the listener" \
  wait_for 10 grep -q "^READY=1|STATUS=listening: mqtt=127.0.0.1:$port" "$work/notify.log"
check "WATCHDOG=1 about every WATCHDOG_USEC/2 (0.5 s)" \
  wait_for 10 sh -c "[ \$(grep -c '^WATCHDOG=1' $work/notify.log) -ge 3 ]"
check "the broker process runs as user tern" sh -c \
  "[ \"\$(ps -o user= -p $broker_pid)\" = tern ]"

# QoS 1 both ways, MQTT 5.0 and 3.1.1. The subscriber is known to be subscribed once a
# probe message published in a loop reaches it.
mosquitto_sub -h 127.0.0.1 -p "$port" -V mqttv5 -q 1 -t 'pkg/#' -W "$timeout_s" \
  -F '%t %q %p' -i pkg-sub >"$work/sub.out" 2>&1 &
sub_pid=$!
probe() {
  mosquitto_pub -h 127.0.0.1 -p "$port" -q 0 -t pkg/probe -m probe >/dev/null 2>&1
  sleep 0.2
  grep -q '^pkg/probe 0 probe$' "$work/sub.out"
}
check "subscriber subscribed" wait_for 10 probe
check "publish QoS 1 (v5)" mosquitto_pub -h 127.0.0.1 -p "$port" -V mqttv5 -q 1 \
  -t pkg/v5 -m hello5
check "publish QoS 1 retained (3.1.1)" mosquitto_pub -h 127.0.0.1 -p "$port" -V mqttv311 \
  -q 1 -r -t pkg/kept -m kept311
check "subscriber received both at QoS 1" wait_for 10 sh -c \
  "grep -qx 'pkg/v5 1 hello5' $work/sub.out && grep -qx 'pkg/kept 1 kept311' $work/sub.out"
kill "$sub_pid" 2>/dev/null
wait "$sub_pid" 2>/dev/null
check "SIGTERM: exit code 0" stop_broker
check "STOPPING=1 sent on the way out" grep -q '^STOPPING=1' "$work/notify.log"
check "LevelDB state written in $state as tern" sh -c \
  "ls -A $state | grep -q . && [ -z \"\$(find $state ! -user tern)\" ]"

# Restart: the retained message comes back from /var/lib/tern. No watchdog this time:
# without WATCHDOG_USEC no WATCHDOG=1 may be sent.
before=$(count WATCHDOG=1)
start_broker_nowd() {
  : >"$1"
  setpriv --reuid tern --regid tern --init-groups --inh-caps=-all \
    env NOTIFY_SOCKET="$work/notify.sock" "$bin" --config "$conf" --bind 127.0.0.1 --port 0 \
    >"$1" 2>&1 &
  broker_pid=$!
  wait_for "$timeout_s" grep -q 'ready: ' "$1" || { cat "$1"; return 1; }
  port=$(sed -n 's/.*ready: mqtt=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" | head -1)
  [ -n "$port" ]
}
check "restart (no WATCHDOG_USEC)" start_broker_nowd "$work/broker2.log"
check "retained message survived the restart" sh -c \
  "mosquitto_sub -h 127.0.0.1 -p $port -q 1 -t pkg/kept -C 1 -W $timeout_s | grep -qx kept311"
sleep 1.2
check "no WATCHDOG=1 without WATCHDOG_USEC" sh -c \
  "[ \$(grep -c '^WATCHDOG=1' $work/notify.log) -eq $before ]"
check "SIGTERM again: exit code 0" stop_broker

# ---- tern passwd (the installed binary), then the broker refuses a wrong password
pw="$work/passwd"
check "tern passwd add" sh -c "printf 'secret-pw\n' | $bin passwd --password-stdin $pw add alice"
check "tern passwd list" sh -c "$bin passwd $pw list | grep -qx alice"
check "tern passwd delete" sh -c \
  "$bin passwd $pw delete alice && ! $bin passwd $pw list | grep -q alice"

# ---- removal keeps configuration and state; purge removes both
if [ $keep -eq 0 ]; then
  check "dpkg -r tern" dpkg -r tern
  check "after remove: binary and unit gone" sh -c "[ ! -e $bin ] && [ ! -e $unit ]"
  check "after remove: config and state kept" sh -c "[ -f $conf ] && [ -d $state ]"
  check "dpkg -P tern" dpkg -P tern
  check "after purge: /etc/tern and $state gone" sh -c "[ ! -e /etc/tern ] && [ ! -e $state ]"
  check "after purge: no package record" sh -c \
    "! dpkg-query -W -f='\${Status}' tern 2>/dev/null | grep -q installed"
fi

echo "installed_test: $passed passed, $failed failed"
[ $failed -eq 0 ]
