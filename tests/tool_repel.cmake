# The repel column end to end (ALGORITHM.md §19): `cnsdiff train --sampler
# uniform --set repel=1` must log exactly what the direction mode
# (`--preset direction`, same seed) logs, epoch by epoch, since both compute
# the same loss on the same batches. Checks: tool/check_repel.cmake.
if(TARGET cnsdiff_tool)
  add_test(NAME tool_repel_equals_direction
    COMMAND ${CMAKE_COMMAND}
      -DTOOL=$<TARGET_FILE:cnsdiff_tool>
      -DWORK=${CMAKE_CURRENT_BINARY_DIR}/tool_repel
      -P ${CMAKE_CURRENT_SOURCE_DIR}/tool/check_repel.cmake)
  set_tests_properties(tool_repel_equals_direction PROPERTIES TIMEOUT 300)
endif()
