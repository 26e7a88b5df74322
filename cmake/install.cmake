# Installation into the GNU directories (configure with -DCMAKE_INSTALL_PREFIX=/usr for a system
# install: /usr/bin, /etc, /usr/lib/systemd/system, /usr/share/doc):
#   bin/llm-mqtt-bridge, bin/llm-mqtt                 (install rules in daemon/ and tools/)
#   <sysconfdir>/llm-mqtt-bridge/llm-mqtt-bridge.yaml  the example (an existing file is kept)
#   <unit dir>/llm-mqtt-bridge.service                 the systemd unit, naming the paths above
#   <docdir>/                                          README, protocol, configuration reference
# The unit names absolute paths chosen at configure time: install with the same prefix.

set(LLMB_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit is installed: relative to the prefix, or absolute")

set(LLMB_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/llm-mqtt-bridge")

# The paths the unit names.
set(LLMB_UNIT_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}")
set(LLMB_UNIT_CONFIG "${LLMB_CONFIG_DIR}/llm-mqtt-bridge.yaml")
set(LLMB_UNIT_DOCDIR "${CMAKE_INSTALL_FULL_DOCDIR}")
set(LLMB_UNIT_FILE "${PROJECT_BINARY_DIR}/systemd/llm-mqtt-bridge.service")
configure_file("${PROJECT_SOURCE_DIR}/systemd/llm-mqtt-bridge.service.in" "${LLMB_UNIT_FILE}"
               @ONLY)

install(CODE "
if(NOT CMAKE_INSTALL_PREFIX STREQUAL \"${CMAKE_INSTALL_PREFIX}\")
  message(WARNING \"installing to \${CMAKE_INSTALL_PREFIX}, but the systemd unit names paths \"
                  \"under ${CMAKE_INSTALL_PREFIX}: configure with -DCMAKE_INSTALL_PREFIX instead\")
endif()")

install(FILES "${LLMB_UNIT_FILE}" DESTINATION "${LLMB_SYSTEMD_UNIT_DIR}")

# The example configuration: never overwrites the one in use. A copy goes to the documentation.
install(FILES config/llm-mqtt-bridge.yaml DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")
install(CODE "
if(EXISTS \"\$ENV{DESTDIR}${LLMB_UNIT_CONFIG}\")
  message(STATUS \"Keeping: \$ENV{DESTDIR}${LLMB_UNIT_CONFIG} (the example is in \"
                 \"${CMAKE_INSTALL_FULL_DOCDIR}/examples)\")
else()
  file(INSTALL DESTINATION \"${LLMB_CONFIG_DIR}\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES \"${PROJECT_SOURCE_DIR}/config/llm-mqtt-bridge.yaml\")
endif()")

install(FILES README.md LICENSE protocol/PROTOCOL.md DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(FILES config/README.md DESTINATION "${CMAKE_INSTALL_DOCDIR}" RENAME configuration.md)

if(LLMB_BUILD_TESTS)
  include("${PROJECT_SOURCE_DIR}/tests/systemd/tests.cmake")
endif()
