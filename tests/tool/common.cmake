# Helpers shared by the tool checks (tests/tool/check_*.cmake), which
# include() this file; each script is run as `cmake -DTOOL=... -P`.

# Runs ${TOOL} with the remaining arguments and fails unless it exits with
# expect_rc; leaves its stdout in `out` and its stderr in `err`.
function(run expect_rc)
  execute_process(COMMAND ${TOOL} ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc STREQUAL "${expect_rc}")
    message(FATAL_ERROR "cnsdiff ${ARGN}: exit ${rc}, expected ${expect_rc}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

function(expect_eq what actual expected)
  if(NOT actual STREQUAL expected)
    message(FATAL_ERROR "${what}: got '${actual}', expected '${expected}'")
  endif()
endfunction()

function(expect_match what actual regex)
  if(NOT actual MATCHES "${regex}")
    message(FATAL_ERROR "${what}: '${actual}' does not match '${regex}'")
  endif()
endfunction()
