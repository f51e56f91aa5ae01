# Scoring with a discount on the axis (ALGORITHM.md §16) end to end:
# `cnsdiff train --preset direction --set score_discount=A` ranks by
# e - A<e,d>d in validation, selection and the test rows. Checks: with
# A = 1 the logged validation Recall@20 is what `cnsdiff bench mechanism`
# computes with the axis removed from a per-epoch snapshot; A = 0 logs what
# a run without --set logs; the discount leaves training alone (same loss
# columns) but not the metrics; and the refusals (outside the direction
# mode, uniform negatives, out of range). Checks: tool/check_discount.cmake.
if(TARGET cnsdiff_tool)
  add_test(NAME tool_score_discount
    COMMAND ${CMAKE_COMMAND}
      -DTOOL=$<TARGET_FILE:cnsdiff_tool>
      -DWORK=${CMAKE_CURRENT_BINARY_DIR}/tool_discount
      -P ${CMAKE_CURRENT_SOURCE_DIR}/tool/check_discount.cmake)
  set_tests_properties(tool_score_discount PROPERTIES TIMEOUT 300)
endif()
