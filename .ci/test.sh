#!/usr/bin/env bash
# Builds Tern with warnings as errors and runs the whole test suite through CTest; then
# builds the security-related targets again on the second TLS backend (mbed TLS) and runs
# the same TLS, WebSocket, authentication and integration security tests there.
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
