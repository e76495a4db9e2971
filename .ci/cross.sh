#!/usr/bin/env bash
# Cross-builds Tern for a Raspberry Pi class target and tests it under qemu-user, in one
# command on a Debian 12 amd64 machine:
#   bash .ci/cross.sh arm64      64-bit ARM (aarch64-linux-gnu), tree in build-arm64/
#   bash .ci/cross.sh armhf      32-bit ARMv7 hard float (arm-linux-gnueabihf), build-armhf/
# Steps: .ci/deps-cross.sh (compilers, qemu-user, the target's libraries through multiarch),
# configure with cross-toolchains/<triplet>.cmake (warnings are errors), build the broker and
# every unit test executable, run the unit tests with ctest under qemu, then the smoke test
# of the real broker binary (tests/cross/smoke.sh). The integration tests are not built:
# they drive the broker with native Paho peers for many minutes, which emulation multiplies.
# Environment: BUILD_TYPE (default MinSizeRel, the size-optimised build a board runs),
# CROSS_EXCLUDE (ctest -E regex of unit tests to skip; default: the [slow]-tagged ones),
# CROSS_UNIT_TESTS=0 (build the broker only and run just the smoke test: a faster CI step).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
  echo "usage: $0 arm64|armhf" >&2
  exit 2
fi
arch=$1
case "$arch" in
  arm64) triplet=aarch64-linux-gnu; qemu=qemu-aarch64 ;;
  armhf) triplet=arm-linux-gnueabihf; qemu=qemu-arm ;;
  *) echo "cross: unknown architecture '$arch' (arm64 or armhf)" >&2; exit 2 ;;
esac
build_dir=build-$arch
build_type=${BUILD_TYPE:-MinSizeRel}
jobs=$(nproc)
times=()
step_start=$SECONDS
step_done() {
  times+=("$1 $((SECONDS - step_start)) s")
  echo "cross[$arch]: $1 done in $((SECONDS - step_start)) s"
  step_start=$SECONDS
}

bash .ci/deps-cross.sh "$arch"
step_done deps

# CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: `cpack` in this tree (.ci/package.sh --cross) installs
# the already built broker instead of first building every target, tests included.
cmake -S . -B "$build_dir" -DCMAKE_TOOLCHAIN_FILE="cross-toolchains/$triplet.cmake" \
  -DCMAKE_BUILD_TYPE="$build_type" -DTERN_WERROR=ON -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON
# Every unit test executable this tree defines (tests/unit/*), found by name so that new
# ones are built and run here without editing this script.
unit_tests=${CROSS_UNIT_TESTS:-1}
unit_targets=()
[ "$unit_tests" = 0 ] || mapfile -t unit_targets < <(cmake --build "$build_dir" --target help \
  | sed -n 's/^\.\.\. \(unit_[A-Za-z0-9_]*\)$/\1/p' | sort -u)
if [ "$unit_tests" != 0 ] && [ ${#unit_targets[@]} -eq 0 ]; then
  echo "cross: no unit test targets found in $build_dir" >&2
  exit 1
fi
echo "cross[$arch]: building tern ${unit_targets[*]+"${unit_targets[*]}"}"
# Building also lists each executable's test cases under qemu (catch_discover_tests).
cmake --build "$build_dir" -j"$jobs" --target tern ${unit_targets[@]+"${unit_targets[@]}"}
step_done build

if [ "$unit_tests" != 0 ]; then
  # [slow]-tagged cases (many clients, timing, a million-entry store) take minutes under
  # emulation and test nothing architecture-specific that the others do not: each executable
  # lists its own (under qemu), and ctest skips them by name.
  slow=()
  for t in "${unit_targets[@]}"; do
    exe=$(find "$build_dir/tests" -type f -name "$t" -perm -u+x | head -n1)
    [ -n "$exe" ] || continue
    while IFS= read -r name; do
      [ -n "$name" ] && slow+=("$t:$(printf '%s' "$name" | sed 's/[][\.*^$+?(){}|]/\\&/g')")
    done < <("$qemu" -L / "$exe" '[slow]' --list-test-names-only 2>/dev/null || true)
  done
  default_exclude=$(IFS='|'; echo "${slow[*]+"${slow[*]}"}")
  exclude=${CROSS_EXCLUDE-$default_exclude}
  if [ -n "$exclude" ]; then echo "cross[$arch]: skipping: $exclude"; fi
  ctest_args=(--test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 900
              --no-tests=error -R '^unit_')
  if [ -n "$exclude" ]; then ctest_args+=(-E "$exclude"); fi
  # 32-bit guests under qemu-user on a 64-bit host: ext4 hands out 64-bit directory cookies
  # that a non-LFS readdir() (Debian armhf's libleveldb) cannot hold (EOVERFLOW), so LevelDB
  # sees an empty directory on reopen. A real board's kernel gives 32-bit programs 32-bit
  # cookies; here test stores go to tmpfs (small cookies) through TMPDIR.
  if [ "$arch" = armhf ] && [ -d /dev/shm ]; then
    TMPDIR=$(mktemp -d -p /dev/shm tern-cross-XXXXXX)
    export TMPDIR
    trap 'rm -rf "$TMPDIR"' EXIT
  fi
  ctest "${ctest_args[@]}"
  step_done "unit tests under $qemu"
fi

bash tests/cross/smoke.sh "$build_dir/broker/app/tern" "$qemu" -L /
step_done "smoke test under $qemu"

if command -v file >/dev/null; then
  echo "cross[$arch]: $build_dir/broker/app/tern: $(file -b "$build_dir/broker/app/tern" | cut -d, -f1-2)"
fi
echo "cross[$arch]: times: $(IFS=';'; echo "${times[*]}" | sed 's/;/, /g')"
