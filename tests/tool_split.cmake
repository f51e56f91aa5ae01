# `cnsdiff split` end to end: --help, usage errors, a bad file's file:line
# message, --skip-bad, and on a generated file: the five files partition the
# input, the same seed writes byte-identical files, the ratio line. The checks
# live in tool/check_split.cmake (a `cmake -P` script).
if(TARGET cnsdiff_tool)
  foreach(mode help usage bad skip partition rawids random)
    add_test(NAME tool_split_${mode}
      COMMAND ${CMAKE_COMMAND}
        -DTOOL=$<TARGET_FILE:cnsdiff_tool>
        -DMODE=${mode}
        -DWORK=${CMAKE_CURRENT_BINARY_DIR}/tool_split_${mode}
        -P ${CMAKE_CURRENT_SOURCE_DIR}/tool/check_split.cmake)
    set_tests_properties(tool_split_${mode} PROPERTIES TIMEOUT 120)
  endforeach()
endif()
