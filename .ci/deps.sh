#!/usr/bin/env bash
# Installs every Debian package Tern needs to build, run and test. Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  build-essential cmake pkg-config
  libasio-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev catch2
  libpaho-mqtt-dev libpaho-mqttpp-dev libleveldb-dev libsnappy-dev libssl-dev
  mosquitto mosquitto-clients
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
