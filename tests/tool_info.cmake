# `cnsdiff info` end to end: the Food counts (skipped when the data is
# absent), a bad file's exit status and file:line message, --skip-bad, and
# usage errors, and the id modes (--ids) on the issue's two-line file
# and on string ids. The checks live in tool/check_info.cmake (a `cmake -P`
# script, kept out of this directory's *.cmake glob).
if(TARGET cnsdiff_tool)
  foreach(mode food bad skip usage help tiny ids)
    add_test(NAME tool_info_${mode}
      COMMAND ${CMAKE_COMMAND}
        -DTOOL=$<TARGET_FILE:cnsdiff_tool>
        -DMODE=${mode}
        -DFOOD=${CNS_SHARED_DATA_DIR}/data/food/train.txt
        -DTINY=${PROJECT_SOURCE_DIR}/examples/data/tiny.txt
        -DWORK=${CMAKE_CURRENT_BINARY_DIR}/tool_info_${mode}
        -P ${CMAKE_CURRENT_SOURCE_DIR}/tool/check_info.cmake)
    set_tests_properties(tool_info_${mode} PROPERTIES
      TIMEOUT 60
      SKIP_REGULAR_EXPRESSION "CNS_TEST_SKIPPED")
  endforeach()
endif()
