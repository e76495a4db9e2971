# CMake toolchain file: Tern for 32-bit ARM Linux with hard float, ARMv7 and later (Raspberry
# Pi 2/3/4/5 running a 32-bit OS; ARMv6 boards such as the Pi Zero/1 need a native build on
# Raspberry Pi OS, see the README), built on Debian 12 amd64 with Debian's cross compiler and the target's libraries installed
# through multiarch in /usr/lib/arm-linux-gnueabihf (bash .ci/deps-cross.sh armhf). Usage:
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cross-toolchains/arm-linux-gnueabihf.cmake
# Test executables (and Catch2's test discovery at build time) run under qemu-user.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(_tern_triplet arm-linux-gnueabihf)

set(CMAKE_C_COMPILER ${_tern_triplet}-gcc)
set(CMAKE_CXX_COMPILER ${_tern_triplet}-g++)
# Code generation stays at Debian armhf's baseline (ARMv7-A, Thumb-2, VFPv3-D16): it is what
# the target's libraries were built for and runs on every ARMv7+ board. -mcpu=cortex-a53/a72
# could be added per board for a little speed, at the cost of the Pi 2 (Cortex-A7).
# -Wno-psabi: GCC notes on 32-bit ARM that passing some structs "changed in GCC 7.1"; it only
# matters when linking code built by GCC < 7.1, and every Debian 12 library is built by 12.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")

# No sysroot: with Debian multiarch the target's libraries sit beside the host's, in
# /usr/lib/<triplet>, and the cross compiler already searches /usr/include/<triplet> and
# /usr/lib/<triplet>. Naming the architecture makes find_library and find_package look in
# <prefix>/lib/<triplet> (the target's) and never in the host's /usr/lib/x86_64-linux-gnu.
set(CMAKE_LIBRARY_ARCHITECTURE ${_tern_triplet})
# libyaml-cpp-dev is not Multi-Arch: same in Debian 12, so .ci/deps-cross.sh unpacks the
# target's CMake package here instead of replacing the host's -dev package.
list(APPEND CMAKE_PREFIX_PATH /usr/local/lib/${_tern_triplet}/tern-cross)
# Tools (compilers, qemu, pkg-config) come from the host; nothing is re-rooted.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# pkg-config (used by some Find modules) must read the target's .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${_tern_triplet}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Run target executables (ctest, catch_discover_tests) under qemu-user with the target's own
# Debian libc (libc6:<arch>, installed through multiarch with the libraries): its dynamic
# loader /lib/ld-linux-*.so.* finds every library in /usr/lib/<triplet>. Not
# `-L /usr/<triplet>`: that prefix holds the cross toolchain's libc, a different build of
# glibc than the libc6:<arch> the other libraries resolve against, and a program mixing the
# two loaders hangs in its first pthread_create.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm -L /)
