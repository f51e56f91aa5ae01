# `cnsdiff demo` end to end on a tiny world: the table, the verdict line,
# the report's shape and statistics, one seed against `cnsdiff train`, 1 vs
# 2 threads, usage errors. Checks: tool/check_demo.cmake.
if(TARGET cnsdiff_tool)
  add_test(NAME tool_demo
    COMMAND ${CMAKE_COMMAND}
      -DTOOL=$<TARGET_FILE:cnsdiff_tool>
      -DWORK=${CMAKE_CURRENT_BINARY_DIR}/tool_demo
      -P ${CMAKE_CURRENT_SOURCE_DIR}/tool/check_demo.cmake)
  set_tests_properties(tool_demo PROPERTIES TIMEOUT 300)
endif()
