# `cnsdiff bench scale` end to end on tiny sizes (and `cnsdiff world`'s five
# files): the table, the JSON report's rows and keys, extrapolation, usage
# errors. Checks: tool/check_bench_scale.cmake.
if(TARGET cnsdiff_tool)
  add_test(NAME tool_bench_scale
    COMMAND ${CMAKE_COMMAND}
      -DTOOL=$<TARGET_FILE:cnsdiff_tool>
      -DWORK=${CMAKE_CURRENT_BINARY_DIR}/tool_bench_scale
      -P ${CMAKE_CURRENT_SOURCE_DIR}/tool/check_bench_scale.cmake)
  set_tests_properties(tool_bench_scale PROPERTIES TIMEOUT 300)
endif()
