# Packaging tests (ctest): `consumer` installs this build into a scratch
# prefix and builds a user program against it with pkg-config and with
# find_package(cnsdiff) (tests/consumer/run.sh); `exports` checks the
# exported symbols and the SONAME (tests/check_exports.sh).
set(_cns_consumer_flags "")
if(CNS_SANITIZE)
  # An instrumented library needs the sanitizer runtime in the program.
  string(APPEND _cns_consumer_flags " -fsanitize=address,undefined")
endif()
if(CNS_COVERAGE)
  # The static twin then refers to libgcov.
  string(APPEND _cns_consumer_flags " --coverage")
endif()
string(STRIP "${_cns_consumer_flags}" _cns_consumer_flags)

add_test(NAME consumer
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh
          ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}
          ${CMAKE_CURRENT_BINARY_DIR}/consumer-work
          ${CMAKE_INSTALL_LIBDIR} ${PROJECT_VERSION})
set_tests_properties(consumer PROPERTIES
  TIMEOUT 300
  ENVIRONMENT "CNS_CONSUMER_CC=${CMAKE_C_COMPILER};CNS_CONSUMER_FLAGS=${_cns_consumer_flags};OPENBLAS_NUM_THREADS=1")

# ctest `exports`: the shared library exports public cns_* API only and
# carries SONAME libcnsdiff.so.<major>. See tests/check_exports.sh.
add_test(NAME exports
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_exports.sh
          $<TARGET_SONAME_FILE:cnsdiff>
          libcnsdiff.so.${PROJECT_VERSION_MAJOR}
          ${PROJECT_SOURCE_DIR}/include/cnsdiff)
set_tests_properties(exports PROPERTIES TIMEOUT 60)
if(CNS_COVERAGE)
  # --coverage links libgcov into the .so, which exports its own __gcov_*
  # symbols; the check is about the real build (it runs in the README build).
  set_tests_properties(exports PROPERTIES DISABLED TRUE)
endif()
