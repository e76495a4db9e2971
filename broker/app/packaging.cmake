# Debian packaging (CPack DEB): `cpack -G DEB` in a build directory makes tern_<version>_<arch>.deb
# with /usr/bin/tern, /etc/tern/tern.yaml (a conffile), /lib/systemd/system/tern.service,
# the maintainer scripts in configs/debian/ and the README. Included from the top-level
# CMakeLists.txt; .ci/package.sh drives it (native and cross build directories).

# ---- architecture: the target's Debian name, not the build machine's.
# Native builds ask dpkg; cross builds map the toolchain's multiarch triplet (set by the
# compiler check, e.g. aarch64-linux-gnu). TERN_DEB_ARCH overrides both.
set(TERN_DEB_ARCH "" CACHE STRING "Debian architecture of the package (empty = detect)")
set(_tern_deb_arch "${TERN_DEB_ARCH}")
if(NOT _tern_deb_arch)
  set(_tern_triplet "${CMAKE_LIBRARY_ARCHITECTURE}")
  if(NOT _tern_triplet)
    set(_tern_triplet "${CMAKE_CXX_LIBRARY_ARCHITECTURE}")
  endif()
  if(CMAKE_CROSSCOMPILING OR NOT _tern_triplet STREQUAL "")
    if(_tern_triplet MATCHES "^aarch64-linux-gnu")
      set(_tern_deb_arch arm64)
    elseif(_tern_triplet MATCHES "^arm-linux-gnueabihf")
      set(_tern_deb_arch armhf)
    elseif(_tern_triplet MATCHES "^x86_64-linux-gnu")
      set(_tern_deb_arch amd64)
    endif()
  endif()
  if(NOT _tern_deb_arch AND NOT CMAKE_CROSSCOMPILING)
    find_program(TERN_DPKG dpkg)
    if(TERN_DPKG)
      execute_process(COMMAND ${TERN_DPKG} --print-architecture
                      OUTPUT_VARIABLE _tern_deb_arch OUTPUT_STRIP_TRAILING_WHITESPACE)
    endif()
  endif()
  if(NOT _tern_deb_arch)
    message(WARNING "packaging: unknown Debian architecture for '${_tern_triplet}'; "
                    "set -DTERN_DEB_ARCH=... to build a .deb")
  endif()
endif()

# ---- /etc/tern/tern.yaml: configs/tern.yaml (every key at its default) with persistence on
# in /var/lib/tern, the service's StateDirectory. Generated rather than kept as a second
# copy, so the installed file never drifts from the documented defaults.
file(READ ${PROJECT_SOURCE_DIR}/configs/tern.yaml _tern_yaml)
set(_tern_storage_off "#storage:\n#  path: /var/lib/tern ")
set(_tern_storage_on "storage:\n  path: /var/lib/tern  ")
string(FIND "${_tern_yaml}" "${_tern_storage_off}" _tern_at)
if(_tern_at EQUAL -1)
  message(FATAL_ERROR "packaging: configs/tern.yaml no longer has the commented "
                      "'#storage:' / '#  path: /var/lib/tern' lines that the installed "
                      "config turns on; update broker/app/packaging.cmake")
endif()
string(REPLACE "${_tern_storage_off}" "${_tern_storage_on}" _tern_yaml "${_tern_yaml}")
# Editors find the schema installed in /usr/share/tern (the modeline must stay line 1).
string(REPLACE "# yaml-language-server: $schema=./tern.schema.json\n" "" _tern_yaml "${_tern_yaml}")
string(REPLACE "# `tern` with no --config runs exactly this."
               "# Here storage.path is set; the rest are the defaults." _tern_yaml "${_tern_yaml}")
set(_tern_yaml_header
"# yaml-language-server: $schema=/usr/share/tern/tern.schema.json\n\
# /etc/tern/tern.yaml, installed by the tern package: configs/tern.yaml from the sources\n\
# with storage.path set to /var/lib/tern (sessions, queues and retained messages survive\n\
# restarts). A conffile: your changes are kept on upgrade. After editing, check with\n\
#   tern --check-config /etc/tern/tern.yaml && systemctl restart tern\n\
# (systemctl reload tern re-reads passwords, ACLs and certificates only).\n#\n")
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/packaging/tern.yaml
     CONTENT "${_tern_yaml_header}${_tern_yaml}" @ONLY)

install(FILES ${PROJECT_BINARY_DIR}/packaging/tern.yaml DESTINATION /etc/tern COMPONENT broker)
install(FILES ${PROJECT_SOURCE_DIR}/configs/systemd/tern.service
        DESTINATION /lib/systemd/system COMPONENT broker)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/tern COMPONENT broker)
install(FILES ${PROJECT_SOURCE_DIR}/configs/tern.schema.json DESTINATION share/tern
        COMPONENT broker)
install(FILES ${PROJECT_SOURCE_DIR}/configs/secure.yaml ${PROJECT_SOURCE_DIR}/configs/durable.yaml
              ${PROJECT_SOURCE_DIR}/configs/bridge-tls.yaml ${PROJECT_SOURCE_DIR}/configs/operations.yaml
              ${PROJECT_SOURCE_DIR}/configs/grafana-dashboard.json
        DESTINATION share/doc/tern/examples COMPONENT broker)

# ---- CPack
set(CPACK_GENERATOR DEB)
# Only the install() rules of component `broker` go in the package: other install rules
# (tests/bench's tern-bench) stay out, also in a build directory with tests.
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};tern;broker;/")
set(CPACK_PACKAGE_NAME tern)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Tern maintainers <tern@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "MQTT 3.1.1 / 5.0 broker for IoT edge gateways")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # the package carries the stripped binary
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # tern_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The long description (CPack puts the summary above it as the first line).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"Tern is a small MQTT broker for Raspberry Pi class gateways: QoS 0/1/2, retained\n\
messages, wills, shared subscriptions, durable sessions in LevelDB, TLS, WebSocket,\n\
password authentication, ACLs and bridges to cloud brokers. Runs as the systemd\n\
service tern (user tern, state in /var/lib/tern).")
if(_tern_deb_arch)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${_tern_deb_arch})
endif()
# adduser for postinst; the shared libraries come from dpkg-shlibdeps, which reads the
# target's multiarch packages (:arm64/:armhf) in a cross build too. TERN_DEB_DEPENDS
# replaces it where that fails (e.g. a cross build without the target -dev packages'
# runtime libraries registered with dpkg).
set(TERN_DEB_DEPENDS "" CACHE STRING
    "Explicit Depends: for the .deb (empty = dpkg-shlibdeps finds the shared libraries)")
if(TERN_DEB_DEPENDS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ${TERN_DEB_DEPENDS}")
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/configs/debian/conffiles
    ${PROJECT_SOURCE_DIR}/configs/debian/postinst
    ${PROJECT_SOURCE_DIR}/configs/debian/prerm
    ${PROJECT_SOURCE_DIR}/configs/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)  # scripts 0755, conffiles 0644
include(CPack)

# The sd_notify unit tests live with the installed-package test (tests/package); added here
# unless tests/CMakeLists.txt already did.
if(TERN_BUILD_TESTS AND NOT TARGET unit_sd_notify
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/package/CMakeLists.txt)
  add_subdirectory(${PROJECT_SOURCE_DIR}/tests/package ${PROJECT_BINARY_DIR}/tests/package)
endif()
