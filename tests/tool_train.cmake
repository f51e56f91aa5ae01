# The training tool end to end on a small generated world (no shared data
# needed): train with each sampler, write the report, the log and a
# checkpoint (and --save-every's per-epoch checkpoints, measured by bench
# mechanism against the log), evaluate and recommend from the checkpoint, and the usage
# errors; rawids: string ids end to end (train, save, eval, recommend
# --user alice printing raw item ids). Also runs examples/custom_loop. Checks: tool/check_train.cmake.
if(TARGET cnsdiff_tool)
  foreach(mode uniform dns cnsdiff usage rawids)
    add_test(NAME tool_train_${mode}
      COMMAND ${CMAKE_COMMAND}
        -DTOOL=$<TARGET_FILE:cnsdiff_tool>
        -DMODE=${mode}
        -DWORK=${CMAKE_CURRENT_BINARY_DIR}/tool_train_${mode}
        -P ${CMAKE_CURRENT_SOURCE_DIR}/tool/check_train.cmake)
    set_tests_properties(tool_train_${mode} PROPERTIES TIMEOUT 300)
  endforeach()
endif()
if(TARGET custom_loop)
  add_test(NAME example_custom_loop COMMAND custom_loop ${PROJECT_SOURCE_DIR}/examples/data/tiny.txt 2)
  set_tests_properties(example_custom_loop PROPERTIES
    PASS_REGULAR_EXPRESSION "epoch 2  loss [0-9.]+.*user 0: [0-9]+ ")
  # With a validation file the example evaluates each epoch and keeps the
  # epoch the library's default selection rule picks.
  add_test(NAME example_custom_loop_select COMMAND custom_loop
    ${PROJECT_SOURCE_DIR}/examples/data/tiny.txt 3 ${PROJECT_SOURCE_DIR}/examples/data/tiny_valid.txt)
  set_tests_properties(example_custom_loop_select PROPERTIES
    PASS_REGULAR_EXPRESSION "epoch 3  loss [0-9.]+  lambda [0-9.]+\n +valid ndcg@[0-9]+ [0-9.]+.*selected epoch [1-3]\nuser 0: [0-9]+ ")
endif()
