# Runs `cnsdiff bench scale` and `cnsdiff world` and checks exit status,
# output and the JSON report. Invoked by tests/tool_bench.cmake.
cmake_minimum_required(VERSION 3.18)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

# The world writes five files, valid_ood.txt among them, and --stats prints the ratio.
run(0 world --out ${WORK}/world --users 300 --items 200 --per-user 10 --ood-per-user 4 --stats)
foreach(f train valid test_iid test_ood valid_ood)
  if(NOT EXISTS ${WORK}/world/${f}.txt)
    message(FATAL_ERROR "world did not write ${f}.txt")
  endif()
endforeach()
expect_match("world stats" "${out}" "popularity ratio +test_ood [0-9.]+")
expect_match("world time" "${out}" "generated in [0-9.]+ s")

# Two tiny sizes, one epoch each: 2 samplers x (2 MF paths + 3 LightGCN paths) per size.
set(R ${WORK}/scale.json)
run(0 bench scale --sizes 0.005,0.01 --epochs 1 --threads 1 --report ${R})
expect_match("table" "${out}" "interactions +encoder +sampler +path")
expect_match("rows" "${out}" "mf +uniform +exact.*mf +cnsdiff +batch-scaled.*lightgcn +cnsdiff +exact")
file(READ ${R} report)
string(REGEX MATCHALL "\"interactions\": [0-9]+" rows "${report}")
list(LENGTH rows n)
if(NOT n EQUAL 20)
  message(FATAL_ERROR "expected 20 rows in ${R}, got ${n}: ${report}")
endif()
expect_match("row keys" "${report}"
  "^\\{\"rows\": \\[.*\\{\"interactions\": [0-9]+, \"encoder\": \"mf\", \"sampler\": \"uniform\", \"path\": \"exact\", \"batch_size\": 2048, \"refresh_every\": 1, \"epoch_seconds_median\": [0-9.]+, \"seconds_per_million\": [0-9.]+, \"load_seconds\": [0-9.]+, \"eval_seconds\": [0-9.]+, \"peak_rss_mb\": [0-9.]+, \"extrapolated\": false\\}")
expect_match("lightgcn" "${report}" "\"encoder\": \"lightgcn\", \"sampler\": \"cnsdiff\", \"path\": \"batch-scaled\".*\"encoder\": \"lightgcn\", \"sampler\": \"cnsdiff\", \"path\": \"stale\"")

# A tiny budget makes every epoch of at least 4 batches (10 000 pairs: 5) extrapolated.
run(0 bench scale --sizes 0.01 --epochs 1 --threads 1 --budget 0.000001 --report ${R})
file(READ ${R} report)
string(REGEX MATCHALL "\"extrapolated\": true" ext "${report}")
list(LENGTH ext n)
if(NOT n EQUAL 10)
  message(FATAL_ERROR "expected 10 extrapolated rows, got ${n}: ${report}")
endif()

# --paths picks paths (stale: LightGCN only; stale-sparse: both encoders,
# only when named), --no-eval reports 0 s.
run(0 bench scale --sizes 0.005 --paths stale,stale-sparse --no-eval --epochs 1 --threads 1 --report ${R})
file(READ ${R} report)
string(REGEX MATCHALL "\"path\": \"stale\"" st "${report}")
list(LENGTH st n)
if(NOT n EQUAL 2)
  message(FATAL_ERROR "expected 2 stale rows, got ${n}: ${report}")
endif()
string(REGEX MATCHALL "\"path\": \"stale-sparse\"" st "${report}")
list(LENGTH st n)
if(NOT n EQUAL 4)
  message(FATAL_ERROR "expected 4 stale-sparse rows, got ${n}: ${report}")
endif()
expect_match("mf stale-sparse" "${report}" "\"encoder\": \"mf\", \"sampler\": \"uniform\", \"path\": \"stale-sparse\"")
expect_match("no eval" "${report}" "\"encoder\": \"lightgcn\".*\"eval_seconds\": 0.000000")

run(2 bench scale --paths bogus)
run(2 bench scale --sizes abc)
expect_match("bad sizes" "${err}" "bad value 'abc' for --sizes")
run(2 bench scale --epochs 0)
run(2 bench scale --bogus 1)
run(0 bench scale --help)
expect_match("help" "${out}" "--sizes 0.1,0.3,1,3,10")
run(1 bench scale --sizes 0.01 --report ${WORK}/no/such/dir/r.json)
