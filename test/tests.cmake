# Test drivers: every test/test_*.c is one ctest test. Each gets the
# module's path and a scratch directory of its own as arguments.
find_package(SQLite3 REQUIRED)

add_library(testutil STATIC ${PROJECT_SOURCE_DIR}/test/testutil.c)
target_link_libraries(testutil PUBLIC SQLite::SQLite3)

file(GLOB VELES_TEST_SOURCES CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/test/test_*.c)
foreach(src ${VELES_TEST_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/test
                             ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${name} PRIVATE testutil m)
  add_dependencies(${name} veles)
  set(scratch ${PROJECT_BINARY_DIR}/scratch/${name})
  add_test(NAME ${name}
           COMMAND ${name} $<TARGET_FILE:veles> ${scratch})
  set_tests_properties(${name} PROPERTIES TIMEOUT 600)
endforeach()

# Benchmarks: every test/bench_*.c is a program (not a ctest test; these
# machines are shared and noisy). Run them with scripts/bench.sh.
file(GLOB VELES_BENCH_SOURCES CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/test/bench_*.c)
foreach(src ${VELES_BENCH_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/test
                             ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${name} PRIVATE testutil m)
  add_dependencies(${name} veles)
endforeach()
