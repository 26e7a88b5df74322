# Warnings every target of the project is built with.
function(llmb_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual)
  if(LLMB_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
option(LLMB_WERROR "Treat warnings as errors" OFF)
