#!/usr/bin/env bash
# Installs the Debian packages Tern needs. Idempotent.
#   bash .ci/deps.sh          build and run the broker
#   bash .ci/deps.sh --test   also the test peers (Paho, mosquitto, mosquitto-clients, python3,
#                             python3-yaml and python3-jsonschema for the config schema test)
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  build-essential cmake pkg-config
  libasio-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev
  libleveldb-dev libsnappy-dev libssl-dev libmbedtls-dev
  libpaho-mqtt-dev libpaho-mqttpp-dev catch2
)
TEST_PKGS=(mosquitto mosquitto-clients python3 python3-yaml python3-jsonschema procps util-linux openssl)
with_tests=0
if [ "${1:-}" = "--test" ]; then with_tests=1; PKGS+=("${TEST_PKGS[@]}"); fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian starts the mosquitto service on port 1883 when it is installed. Tern's tests only
  # use it as a peer they start themselves, so a service we just installed is stopped and
  # disabled: it would otherwise take the port Tern's default config listens on.
  if [ $with_tests -eq 1 ] && printf '%s\n' "${missing[@]}" | grep -qx mosquitto \
      && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now mosquitto.service >/dev/null 2>&1 || true
    echo "note: disabled the mosquitto system service (a test peer only; port 1883 is Tern's)"
  fi
fi
