# Bring-your-own-model checks that need more than the C suites:
#  - example_byo_embeddings: examples/byo_embeddings.cpp, a C++17 host with
#    its own tables that uses only the sampler and the loss, built against
#    the shared library and run;
#  - public_headers_compile: every public header compiled alone as C99,
#    C11, C++11 and C++17 with -Wall -Wextra -Wpedantic -Werror
#    (tests/headers/compile_all.cmake).
# Both need a C++ compiler; without one they are not registered.
include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  add_executable(byo_embeddings ${PROJECT_SOURCE_DIR}/examples/byo_embeddings.cpp)
  set_target_properties(byo_embeddings PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  target_compile_options(byo_embeddings PRIVATE -Wall -Wextra -Wpedantic $<$<BOOL:${CNS_WERROR}>:-Werror>)
  target_link_libraries(byo_embeddings PRIVATE cnsdiff)
  add_test(NAME example_byo_embeddings COMMAND byo_embeddings 20)
  set_tests_properties(example_byo_embeddings PROPERTIES
    TIMEOUT 300
    PASS_REGULAR_EXPRESSION "byo_embeddings: OK")

  add_test(NAME public_headers_compile
    COMMAND ${CMAKE_COMMAND}
      -DCC=${CMAKE_C_COMPILER} -DCXX=${CMAKE_CXX_COMPILER}
      -DHEADERS_DIR=${PROJECT_SOURCE_DIR}/include/cnsdiff
      -DINCLUDES=${PROJECT_SOURCE_DIR}/include|${PROJECT_BINARY_DIR}/include
      -DWORK=${CMAKE_CURRENT_BINARY_DIR}/header-compile
      -P ${CMAKE_CURRENT_SOURCE_DIR}/headers/compile_all.cmake)
  set_tests_properties(public_headers_compile PROPERTIES TIMEOUT 300)
endif()
