#!/usr/bin/env bash
# Builds Tern with warnings as errors and runs the whole test suite through CTest; then
# builds the security-related targets again on the second TLS backend (mbed TLS) and runs
# the same TLS, WebSocket, authentication and integration security tests there; then builds,
# installs and tests the Debian package, and cross-builds and tests the two Raspberry Pi
# targets under qemu-user.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
MBED_BUILD_DIR=${MBED_BUILD_DIR:-build-mbedtls}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTERN_WERROR=ON
cmake --build "$BUILD_DIR" -j"$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" --timeout 600

# The TLS backend is a build choice (TERN_TLS); both must pass the same suite.
SECURITY_TARGETS=(tern unit_tls unit_ws unit_auth unit_app integration_security
                  fuzz_transport_standalone)
SECURITY_TESTS='^(unit_tls:|unit_ws:|unit_auth:|unit_app:|integration_security:|fuzz_transport_short)'
cmake -S . -B "$MBED_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTERN_WERROR=ON \
  -DTERN_TLS=mbedtls
cmake --build "$MBED_BUILD_DIR" -j"$(nproc)" --target "${SECURITY_TARGETS[@]}"
ctest --test-dir "$MBED_BUILD_DIR" --output-on-failure -j"$(nproc)" --timeout 600 --no-tests=error \
  -R "$SECURITY_TESTS"

# The Debian package of the tree built above: cpack, install it here with apt, run the
# installed binary on its installed config as the `tern` user, systemd-analyze verify the
# unit, remove and purge it (tests/package/installed_test.sh).
bash .ci/package.sh --from "$BUILD_DIR"

# Raspberry Pi targets: cross-build (Debian cross compilers, multiarch libraries), run every
# unit test and the broker smoke test under qemu-user, then package both. About 5-6 minutes
# per target on 2 cores. TERN_CROSS=0 leaves them out of a local run.
if [ "${TERN_CROSS:-1}" != 0 ]; then
  bash .ci/cross.sh arm64
  bash .ci/cross.sh armhf
  bash .ci/package.sh --cross arm64 --cross armhf
  # Issue 6's size budget: the stripped ARM binaries stay within 2 MiB.
  python3 tests/bench/footprint.py --only arm64,armhf --conns '' --max-stripped-kib 2048
fi
