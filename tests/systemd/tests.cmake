# Tests of the systemd unit and of the installation (included from cmake/install.cmake, which
# sets the LLMB_UNIT_* paths).
if(IS_ABSOLUTE "${LLMB_SYSTEMD_UNIT_DIR}")
  set(llmb_unit_dir_full "${LLMB_SYSTEMD_UNIT_DIR}")
else()
  set(llmb_unit_dir_full "${CMAKE_INSTALL_PREFIX}/${LLMB_SYSTEMD_UNIT_DIR}")
endif()

# The unit's sandboxing, as systemd-analyze scores it: at most 2.0 ("OK").
add_test(NAME systemd.security
  COMMAND "${CMAKE_CURRENT_LIST_DIR}/check_security.sh" "${LLMB_UNIT_FILE}" 2.0)

# cmake --install into a scratch DESTDIR puts every file where the unit expects it.
add_test(NAME systemd.install
  COMMAND "${CMAKE_CURRENT_LIST_DIR}/check_install.sh"
    "${CMAKE_COMMAND}" "${PROJECT_BINARY_DIR}" "${PROJECT_BINARY_DIR}/install-test"
    "${LLMB_UNIT_BINDIR}" "${llmb_unit_dir_full}" "${LLMB_UNIT_CONFIG}" "${LLMB_UNIT_DOCDIR}")
set_tests_properties(systemd.security systemd.install PROPERTIES TIMEOUT 120 LABELS systemd)
