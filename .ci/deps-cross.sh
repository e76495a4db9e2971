#!/usr/bin/env bash
# Installs what cross-building Tern for Raspberry Pi class boards needs, from Debian only:
# the cross compilers, qemu-user (runs the ARM tests and the broker here) and the target's
# libraries through multiarch (libfoo-dev:arm64 / :armhf beside the amd64 ones). Idempotent.
#   bash .ci/deps-cross.sh arm64 [armhf]
#
# Two Debian wrinkles are handled here rather than left to the user:
# - A Multi-Arch: same package must have the same version on every architecture. When the
#   host's copy differs from what the target architecture offers (host not upgraded yet, or
#   one architecture's index behind the other during a mirror sync), both are installed at
#   one version: the host's when the target offers it, else the target's candidate.
# - libyaml-cpp-dev is not Multi-Arch: same (Debian 12), so its :arm64 / :armhf package
#   would replace the host's. Only its runtime library (libyaml-cpp0.7, Multi-Arch: same) is
#   installed for the target; the -dev package is unpacked into
#   /usr/local/lib/<triplet>/tern-cross/ (headers are the host's: they are the same version),
#   where the toolchain files point CMake. Nothing of the host's is replaced.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

if [ $# -eq 0 ]; then
  echo "usage: $0 arm64|armhf..." >&2
  exit 2
fi
native=$(dpkg --print-architecture)

triplet_of() {
  case "$1" in
    arm64) echo aarch64-linux-gnu ;;
    armhf) echo arm-linux-gnueabihf ;;
    *) echo "deps-cross: unknown architecture '$1' (arm64 or armhf)" >&2; return 1 ;;
  esac
}

# The target libraries Tern links (the same list as .ci/deps.sh, less the architecture-
# independent ones: libasio-dev, libcli11-dev and catch2 are header-only and already there
# from the host's install).
# libc6 and libstdc++6 of the target are named although the others pull them in: qemu-user
# runs the cross-built programs with them (see the toolchain files).
TARGET_DEV=(libspdlog-dev libfmt-dev libleveldb-dev libsnappy-dev libssl-dev libmbedtls-dev
            libpaho-mqtt-dev libpaho-mqttpp-dev libyaml-cpp0.7 libc6 libstdc++6)
HOST_PKGS=(cmake pkg-config qemu-user mosquitto-clients libasio-dev libcli11-dev catch2
           libyaml-cpp-dev)

installed_version() {  # PKG:ARCH -> version, or nothing
  dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null \
    | awk '$1=="install" && $3=="installed" {print $4}'
}

need_update=1
apt_update() {
  if [ $need_update -eq 1 ]; then
    # A failed index (a mirror mid-sync) is not fatal: apt keeps the last good one, and the
    # version alignment below copes with architectures whose indexes disagree.
    $SUDO apt-get update -qq || echo "deps-cross: apt-get update reported errors; going on"
    need_update=0
  fi
}

foreign=$(dpkg --print-foreign-architectures)
for arch in "$@"; do
  triplet_of "$arch" >/dev/null
  if ! grep -qx "$arch" <<<"$foreign"; then
    $SUDO dpkg --add-architecture "$arch"
  fi
done

# ---- what is missing?
want=("${HOST_PKGS[@]}")
for arch in "$@"; do
  want+=("g++-$(triplet_of "$arch")")
  for p in "${TARGET_DEV[@]}"; do want+=("$p:$arch"); done
done
missing=()
for p in "${want[@]}"; do
  if [[ $p == *:* ]]; then
    [ -n "$(installed_version "$p")" ] || missing+=("$p")
  else
    # Architecture: all packages (e.g. libasio-dev) answer to their bare name only.
    [ -n "$(installed_version "$p:$native")" ] || [ -n "$(installed_version "$p")" ] \
      || missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  apt_update
  echo "deps-cross: installing ${missing[*]}"
  # Every Multi-Arch: same package the target libraries pull in that the host also has must
  # end up at one version on both.
  targets=()
  for p in "${missing[@]}"; do [[ $p == *:* ]] && targets+=("$p"); done
  pins=()
  if [ ${#targets[@]} -gt 0 ]; then
    closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
                --no-breaks --no-replaces --no-enhances "${targets[@]}" 2>/dev/null \
              | grep -E '^[a-z0-9][^ ]*:(arm64|armhf)$' | sort -u)
    for dep in $closure; do
      name=${dep%:*}
      arch=${dep##*:}
      host_v=$(installed_version "$name:$native")
      [ -n "$host_v" ] || continue
      target_v=$(apt-cache policy "$dep" | awk '/Candidate:/ {print $2}')
      if [ -n "$target_v" ] && [ "$target_v" = "$host_v" ]; then continue; fi
      if apt-cache madison "$dep" | awk -F'|' '{gsub(/ /,"",$2); print $2}' \
           | grep -qxF "$host_v"; then
        pins+=("$dep=$host_v")
      elif [ -n "$target_v" ] && [ "$target_v" != "(none)" ]; then
        echo "deps-cross: $name: $native has $host_v, $arch offers $target_v; moving both to it"
        pins+=("$dep=$target_v" "$name:$native=$target_v")
      fi
    done
  fi
  # A pinned package is named once, with its version.
  final=()
  for p in "${missing[@]}"; do
    pinned=0
    for pin in "${pins[@]+"${pins[@]}"}"; do [ "${pin%%=*}" = "$p" ] && pinned=1; done
    [ $pinned -eq 1 ] || final+=("$p")
  done
  $SUDO apt-get install -y -qq --no-install-recommends --allow-downgrades \
    "${final[@]}" "${pins[@]+"${pins[@]}"}"
fi

# ---- libyaml-cpp-dev for each target, unpacked beside (not over) the host's
for arch in "$@"; do
  triplet=$(triplet_of "$arch")
  dest=/usr/local/lib/$triplet/tern-cross
  runtime_v=$(installed_version "libyaml-cpp0.7:$arch")
  if [ -z "$runtime_v" ]; then
    echo "deps-cross: libyaml-cpp0.7:$arch is not installed" >&2
    exit 1
  fi
  if [ "$(cat "$dest/.version" 2>/dev/null || true)" = "$runtime_v" ]; then continue; fi
  apt_update
  work=$(mktemp -d)
  chmod 755 "$work"  # apt-get download fetches as the _apt user
  (cd "$work" && apt-get download -qq "libyaml-cpp-dev:$arch=$runtime_v")
  dpkg-deb -x "$work"/libyaml-cpp-dev_*.deb "$work/root"
  $SUDO rm -rf "$dest"
  $SUDO mkdir -p "$dest/lib/$triplet"
  # The CMake package computes its prefix from where it lives (<prefix>/lib/<triplet>/cmake/
  # yaml-cpp): that prefix is $dest, whose include/ and lib/<triplet>/libyaml-cpp.so.* point
  # at the real files (the host's headers, the target's runtime library).
  $SUDO cp -a "$work/root/usr/lib/$triplet/cmake" "$dest/lib/$triplet/"
  # Only yaml-cpp's own header folder: -isystem on all of /usr/include would come before
  # the cross compiler's C++ headers and break their #include_next.
  $SUDO mkdir -p "$dest/include"
  $SUDO ln -s /usr/include/yaml-cpp "$dest/include/yaml-cpp"
  for so in /usr/lib/"$triplet"/libyaml-cpp.so.*; do
    $SUDO ln -s "$so" "$dest/lib/$triplet/$(basename "$so")"
  done
  real_so=$(readlink -f "$(ls /usr/lib/"$triplet"/libyaml-cpp.so.* | head -n1)")
  $SUDO ln -s "$real_so" "$dest/lib/$triplet/libyaml-cpp.so"
  echo "$runtime_v" | $SUDO tee "$dest/.version" >/dev/null
  rm -rf "$work"
  echo "deps-cross: libyaml-cpp-dev:$arch $runtime_v unpacked in $dest"
done
