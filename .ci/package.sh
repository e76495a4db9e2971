#!/usr/bin/env bash
# Debian packages of Tern (CPack DEB, rules in broker/app/packaging.cmake).
#   bash .ci/package.sh               Release build in build-pkg (no tests), cpack -G DEB, then
#                                     install the package on this machine (apt-get install
#                                     ./tern_*.deb), run tests/package/installed_test.sh (which
#                                     ends with dpkg -r and dpkg -P), and leave the .deb in
#                                     build-pkg/.
#   bash .ci/package.sh --no-install  build the native package only.
#   bash .ci/package.sh --from DIR    no build of its own: package the native build directory
#                                     DIR as it is (e.g. CI's build/, already built by
#                                     .ci/test.sh: RelWithDebInfo, stripped by CPack), then
#                                     install and test it as above. About 30 s instead of a
#                                     Release build.
#   bash .ci/package.sh --cross ARCH  (arm64 | armhf) cpack in build-ARCH, the cross build
#                                     directory .ci/cross.sh configures and builds; the package
#                                     is produced, not installed. Repeatable: --cross arm64
#                                     --cross armhf.
# Any other tern package already installed here is purged first: the test needs a fresh
# install (user creation, conffile, state directory).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

native=1
install=1
from=""
cross=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0 ;;
    --from) [ $# -ge 2 ] || { echo "package.sh: --from needs a build directory" >&2; exit 2; }
            from=$2; shift ;;
    --cross) [ $# -ge 2 ] || { echo "package.sh: --cross needs arm64 or armhf" >&2; exit 2; }
             cross+=("$2"); native=0; install=0; shift ;;
    *) echo "usage: $0 [--no-install] [--from DIR] | --cross arm64|armhf ..." >&2; exit 2 ;;
  esac
  shift
done

# Tools: dpkg-shlibdeps (dpkg-dev) finds the shared-library dependencies; the installed test
# needs systemd-analyze (systemd; it verifies unit files without systemd running), the
# mosquitto clients, python3 (the fake notify socket) and setpriv (util-linux).
need=(dpkg-dev file)
if [ $install -eq 1 ]; then need+=(systemd mosquitto-clients python3 util-linux adduser); fi
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "package.sh: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ $native -eq 1 ]; then
  start=$SECONDS
  dir=build-pkg
  if [ -n "$from" ]; then
    dir=$from
    [ -f "$dir/CPackConfig.cmake" ] || { echo "package.sh: $dir: not configured" >&2; exit 1; }
    cmake -S . -B "$dir" >/dev/null  # cpack reads CPackConfig.cmake before it regenerates
  else
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DTERN_BUILD_TESTS=OFF -DTERN_WERROR=ON
    cmake --build "$dir" -j"$(nproc)" --target tern
  fi
  rm -f "$dir"/tern_*.deb
  # cpack first builds the "all" target (a no-op when the directory is up to date).
  (cd "$dir" && cpack -G DEB)
  deb=$(ls "$dir"/tern_*.deb)
  echo "package.sh: built $deb in $((SECONDS - start)) s"
  dpkg-deb --info "$deb"
  dpkg-deb --contents "$deb"
  if [ $install -eq 1 ]; then
    if dpkg-query -W -f='${Status}' tern 2>/dev/null | grep -q "installed"; then
      echo "package.sh: purging the tern package already installed"
      $SUDO dpkg -P tern
    fi
    # apt-get resolves the Depends: from the Debian archive (all present after a build).
    $SUDO apt-get install -y -qq --no-install-recommends "./$deb"
    bash tests/package/installed_test.sh
  fi
fi

for arch in "${cross[@]}"; do
  case "$arch" in
    arm64|armhf) ;;
    *) echo "package.sh: unknown architecture $arch (arm64 or armhf)" >&2; exit 2 ;;
  esac
  dir=build-$arch
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    echo "package.sh: $dir does not exist; run .ci/cross.sh $arch first" >&2
    exit 1
  fi
  rm -f "$dir"/tern_*.deb
  # Regenerate first: cpack reads CPackConfig.cmake before its preinstall step would.
  cmake -S . -B "$dir" >/dev/null
  # cpack builds what install needs first (target tern, already built by .ci/cross.sh).
  # dpkg-shlibdeps reads the ARM binary with the cross objdump and the target's multiarch
  # packages' shlibs/symbols files (installed by .ci/deps-cross.sh).
  case "$arch" in
    arm64) triplet=aarch64-linux-gnu ;;
    armhf) triplet=arm-linux-gnueabihf ;;
  esac
  (cd "$dir" && DEB_HOST_ARCH=$arch DEB_HOST_GNU_TYPE=$triplet OBJDUMP=$triplet-objdump \
     cpack -G DEB)
  deb=$(ls "$dir"/tern_*_"$arch".deb)
  echo "package.sh: built $deb"
  dpkg-deb --info "$deb"
  file "$dir/_CPack_Packages/Linux/DEB/tern-"*"/usr/bin/tern" 2>/dev/null || true
done
