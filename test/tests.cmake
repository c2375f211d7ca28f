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
# test_oom died with SIGBUS twice in the release build of a fresh CI clone
# (3 runs), each time beside other tests at -j2, never alone nor in 14
# reruns; the cause is not found yet. Until it is, it runs alone there.
if(TARGET test_oom AND NOT VELES_SANITIZE)
  set_tests_properties(test_oom PROPERTIES RUN_SERIAL ON)
endif()

# Benchmarks: every test/bench_*.c is a program (not a ctest test; these
# machines are shared and noisy), with the helpers of test/benchutil.c.
# Run them with scripts/bench.sh.
add_library(benchutil STATIC ${PROJECT_SOURCE_DIR}/test/benchutil.c)
target_link_libraries(benchutil PUBLIC SQLite::SQLite3)
file(GLOB VELES_BENCH_SOURCES CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/test/bench_*.c)
foreach(src ${VELES_BENCH_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/test
                             ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${name} PRIVATE benchutil m)
  add_dependencies(${name} veles)
endforeach()

# faultfs (test/faultfs.c): power-loss and I/O-error injection. Linked
# into the drivers that use it, whose exported open/pwrite/fsync/...
# then take over those calls for libsqlite3 and veles.so too; also built
# as an LD_PRELOAD module for use with other programs (sqlite3 shell).
find_package(Threads REQUIRED)
add_library(faultfs MODULE ${PROJECT_SOURCE_DIR}/test/faultfs.c)
set_target_properties(faultfs PROPERTIES PREFIX "")
target_compile_definitions(faultfs PRIVATE FAULTFS_PRELOAD)
target_link_libraries(faultfs PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)
add_library(faultfs_linked STATIC ${PROJECT_SOURCE_DIR}/test/faultfs.c)
target_link_libraries(faultfs_linked PUBLIC ${CMAKE_DL_LIBS} Threads::Threads)
foreach(name test_powerloss test_ioerr test_rebuild test_compact
             test_upgrade test_lazysync)
  if(TARGET ${name})
    target_link_libraries(${name} PRIVATE faultfs_linked)
    set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON)
  endif()
endforeach()
# test_concurrency also runs two threads, each storing payloads through a
# connection of its own (cJSON's parser must not race).
if(TARGET test_concurrency)
  target_link_libraries(test_concurrency PRIVATE Threads::Threads)
endif()

# ---- bindings and packaging (docs/bindings.md) ----------------------------
set(VELES_BIND_SCRATCH ${PROJECT_BINARY_DIR}/scratch)

# The SQL scripts sql/tests/*.sql on the system SQLite (test_sqlscripts,
# built by the loop above); the node test below runs them on
# better-sqlite3's newer SQLite.
if(TARGET test_sqlscripts)
  target_compile_definitions(test_sqlscripts PRIVATE
    VELES_SQL_TESTS_DIR="${PROJECT_SOURCE_DIR}/sql/tests")
endif()

# C: the example program linked with libveles.a and the system SQLite.
if(VELES_STATIC)
  add_executable(veles_app ${PROJECT_SOURCE_DIR}/examples/c/app.c)
  target_link_libraries(veles_app PRIVATE veles_static SQLite::SQLite3)
  add_test(NAME example_c
           COMMAND bash ${PROJECT_SOURCE_DIR}/bindings/c/test_example.sh
                   $<TARGET_FILE:veles_app> ${VELES_BIND_SCRATCH}/example_c
                   ${PROJECT_SOURCE_DIR}/examples/example.out)
endif()

# What loads the module into another process (the sqlite3 shell, Python,
# node) runs only in a build without sanitizers: an ASan module cannot be
# loaded by a program that was not started with the ASan runtime.
if(NOT VELES_SANITIZE)
  find_program(VELES_SQLITE3_SHELL sqlite3)
  find_program(VELES_PKG_CONFIG pkg-config)
  if(VELES_SQLITE3_SHELL AND VELES_PKG_CONFIG)
    add_test(NAME install
             COMMAND bash ${PROJECT_SOURCE_DIR}/bindings/c/test_install.sh
                     ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}
                     ${VELES_BIND_SCRATCH}/install ${PROJECT_VERSION}
                     ${VELES_STATIC} ${CMAKE_C_COMPILER})
  endif()

  # Python: Debian's python3 (its sqlite3 module loads extensions) and
  # python3-pytest (scripts/deps.sh installs both).
  set(VELES_PYTHON /usr/bin/python3 CACHE FILEPATH
      "Python whose sqlite3 module can load extensions")
  # -P and the working directory keep the build directory off sys.path:
  # there, `import veles` would find veles.so instead of the package.
  add_test(NAME python
           COMMAND ${VELES_PYTHON} -P -m pytest -q -p no:cacheprovider
                   ${PROJECT_SOURCE_DIR}/test/python
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/test/python)
  set_tests_properties(python PROPERTIES ENVIRONMENT
    "VELES_PATH=$<TARGET_FILE:veles>;PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python;PYTHONDONTWRITEBYTECODE=1")

  # Node.js: better-sqlite3 (its own SQLite 3.5x) from VELES_NODE_MODULES,
  # where scripts/node-deps.sh installs it; the bindings/node package, its
  # example, and the SQL scripts of test_sqlscripts on the newer SQLite.
  # Without better-sqlite3 the test reports itself skipped.
  find_program(VELES_NODE node)
  set(VELES_NODE_MODULES ${PROJECT_BINARY_DIR}/node/node_modules CACHE PATH
      "node_modules holding better-sqlite3 (scripts/node-deps.sh installs it)")
  if(VELES_NODE)
    file(GLOB VELES_NODE_TESTS CONFIGURE_DEPENDS
         ${PROJECT_SOURCE_DIR}/test/node/*.test.js)
    add_test(NAME node
             COMMAND ${VELES_NODE} --test --test-reporter=tap
                     ${VELES_NODE_TESTS})
    set_tests_properties(node PROPERTIES
      ENVIRONMENT "VELES_PATH=$<TARGET_FILE:veles>;NODE_PATH=${VELES_NODE_MODULES};VELES_NODE_SCRATCH=${VELES_BIND_SCRATCH}/node"
      SKIP_REGULAR_EXPRESSION "# skip [1-9]"
      TIMEOUT 300)
  endif()
endif()

# A replicated deployment: test/replication/replication.cmake
include(${PROJECT_SOURCE_DIR}/test/replication/replication.cmake)

# libFuzzer targets (-DVELES_FUZZ=ON with clang): test/fuzz/fuzz.cmake
include(${PROJECT_SOURCE_DIR}/test/fuzz/fuzz.cmake)
