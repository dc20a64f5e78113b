# Warning flags shared by every target of the project.
function(lens_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
    -Wimplicit-fallthrough -Wformat=2
    -Wno-missing-field-initializers)  # designated initialisers leave the rest defaulted on purpose
  if(LENS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
