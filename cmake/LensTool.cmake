# lens_add_tool(<name>): adds the executable cmd/<name>/main.cpp linked against
# lens::common and installs it. Every tool of the toolkit is added this way.
function(lens_add_tool name)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/${name}/main.cpp)
  target_link_libraries(${name} PRIVATE lens::common)
  lens_set_warnings(${name})
  install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()
