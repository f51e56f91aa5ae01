# Invoked by tests/tool_discount.cmake with cmake -P; see there.
cmake_minimum_required(VERSION 3.18)

include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)

# A log's rows without the seconds column (the only one timing changes),
# and the loss columns alone (loss, bpr, cl, reg, diffusion_loss, lambda).
function(read_log path all_var loss_var)
  file(STRINGS ${path} lines)
  list(POP_FRONT lines)
  set(all "")
  set(loss "")
  foreach(line ${lines})
    string(REPLACE "," ";" f "${line}")
    list(REMOVE_AT f 1)
    list(SUBLIST f 0 7 l)
    string(REPLACE ";" "," f "${f}")
    string(REPLACE ";" "," l "${l}")
    list(APPEND all "${f}")
    list(APPEND loss "${l}")
  endforeach()
  set(${all_var} "${all}" PARENT_SCOPE)
  set(${loss_var} "${loss}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(W ${WORK}/world)
run(0 world --out ${W} --users 300 --items 200 --per-user 20 --ood-per-user 5 --seed 3)
set(common --train ${W}/train.txt --valid ${W}/valid.txt --test ${W}/test_ood.txt --sampler cnsdiff
    --preset direction --epochs 3 --patience 0 --threads 1 --seed 5 --batch-size 256 --quiet)

# A = 1: the log's validation Recall@20 is bench mechanism's "without c"
# figure for that epoch's snapshot (its own ranking loop and its own d),
# and differs from its full-score figure at least once (so the check can
# tell the two apart).
set(P ${WORK}/snap)
run(0 train ${common} --set score_discount=1 --log ${WORK}/a1.csv --save-every 1 ${P})
file(STRINGS ${WORK}/a1.csv a1_lines)
set(differs 0)
foreach(e 1 2 3)
  run(0 bench mechanism --model ${P}.e00${e} --seed 5 --test ${W}/valid.txt --csv)
  string(REGEX MATCH "\nrecall@20,valid,([0-9.e-]+)" _ "${out}")
  set(full ${CMAKE_MATCH_1})
  string(REGEX MATCH "\nrecall@20_noc,valid,([0-9.e-]+)" _ "${out}")
  set(noc ${CMAKE_MATCH_1})
  list(GET a1_lines ${e} row)
  string(REPLACE "," ";" row "${row}")
  list(GET row 8 log_recall)
  string(SUBSTRING "${noc}0000000" 0 6 a)
  string(SUBSTRING "${log_recall}" 0 6 b)
  if(NOT a STREQUAL b)
    message(FATAL_ERROR "epoch ${e}: logged valid recall@20 ${log_recall} with score_discount=1, "
                        "bench mechanism without c ${noc} (with c ${full})")
  endif()
  string(SUBSTRING "${full}0000000" 0 6 c)
  if(NOT c STREQUAL a)
    set(differs 1)
  endif()
endforeach()
if(NOT differs)
  message(FATAL_ERROR "removing c changed no epoch's recall: the check cannot fail")
endif()

# A = 0 is the run without the setting; A = 0.5 trains the same way
# (scoring is not training) but ranks differently.
run(0 train ${common} --log ${WORK}/none.csv)
run(0 train ${common} --set score_discount=0 --log ${WORK}/a0.csv)
run(0 train ${common} --set score_discount=0.5 --log ${WORK}/a05.csv)
read_log(${WORK}/none.csv none_all none_loss)
read_log(${WORK}/a0.csv a0_all a0_loss)
read_log(${WORK}/a05.csv a05_all a05_loss)
if(NOT a0_all STREQUAL none_all)
  message(FATAL_ERROR "score_discount=0 logged\n${a0_all}\nwithout it\n${none_all}")
endif()
if(NOT a05_loss STREQUAL a0_loss)
  message(FATAL_ERROR "score_discount=0.5 trained differently:\n${a05_loss}\nvs\n${a0_loss}")
endif()
if(a05_all STREQUAL a0_all)
  message(FATAL_ERROR "score_discount=0.5 logged the metrics of score_discount=0")
endif()

# Refusals, before any training.
run(1 train --train ${W}/train.txt --sampler cnsdiff --preset paper-code --epochs 1 --quiet --set score_discount=0.5)
expect_match("reference mode" "${err}" "score_discount=0.5: cns_sampler_score_items: score_discount needs the direction mode")
run(1 train --train ${W}/train.txt --sampler uniform --epochs 1 --quiet --set score_discount=0.5)
expect_match("uniform" "${err}" "score_discount=0.5: needs --sampler cnsdiff in the direction mode")
run(1 train --train ${W}/train.txt --sampler cnsdiff --preset direction --epochs 1 --quiet --set score_discount=1.5)
expect_match("range" "${err}" "SCORE_DISCOUNT = 1.5 is outside \\[0, 1\\]")
run(0 train --help-params)
expect_match("help-params" "${out}" "score_discount")
