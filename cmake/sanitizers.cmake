# LLMB_SANITIZE="address;undefined" or "thread" instruments every target.
if(LLMB_SANITIZE)
  string(REPLACE ";" "," _llmb_san "${LLMB_SANITIZE}")
  add_compile_options(-fsanitize=${_llmb_san} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${_llmb_san})
endif()
# GCC 12 with AddressSanitizer warns "may be used uninitialized" inside libstdc++'s <regex>
# (std::function moved in _NFA::_M_insert_*): instrumentation hides the initialisation from the
# flow analysis. The plain build keeps the warning for the project's own code.
if(LLMB_SANITIZE MATCHES "address" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  add_compile_options(-Wno-maybe-uninitialized)
endif()
