# LLMB_SANITIZE="address;undefined" or "thread" instruments every target.
if(LLMB_SANITIZE)
  string(REPLACE ";" "," _llmb_san "${LLMB_SANITIZE}")
  add_compile_options(-fsanitize=${_llmb_san} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${_llmb_san})
endif()
