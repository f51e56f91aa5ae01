# Model selection: the C helper (cns_selector, through a small replay
# program) and docs/bench/summarize.py must make the same choice on the same
# series, and `cnsdiff train` must select what summarize.py selects from the
# run's own log. Also the tool's --select-by parsing. The checks live in
# tool/check_select_equiv.py; they need python3 and are not registered
# without it.
if(TARGET cnsdiff_tool)
  find_package(Python3 COMPONENTS Interpreter QUIET)
  add_executable(select_replay ${CMAKE_CURRENT_SOURCE_DIR}/tool/select_replay.c)
  target_compile_options(select_replay PRIVATE ${CNS_WARNINGS})
  target_link_libraries(select_replay PRIVATE cnsdiff_static PkgConfig::OPENBLAS Threads::Threads m)
  if(Python3_Interpreter_FOUND)
    foreach(mode series train usage)
      add_test(NAME tool_select_${mode}
        COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tool/check_select_equiv.py ${mode}
          --replay $<TARGET_FILE:select_replay>
          --tool $<TARGET_FILE:cnsdiff_tool>
          --summarize ${PROJECT_SOURCE_DIR}/docs/bench/summarize.py
          --work ${CMAKE_CURRENT_BINARY_DIR}/tool_select_${mode})
      set_tests_properties(tool_select_${mode} PROPERTIES TIMEOUT 300)
    endforeach()
  endif()
endif()
