# Replication (docs/replication.md).
#
# test_pages: page-level replication (Litestream, LiteFS, sqld style),
# the database's pages shipped while a writer runs.
#
# test_dqlite: veles replicated by dqlite, a 3-node cluster of
# Debian's dqlite-demo with veles registered by examples/dqlite's preload
# library, driven by examples/dqlite/client (go-dqlite's database/sql
# driver). Needs go-dqlite, golang-go and golang-github-canonical-go-dqlite-dev
# (scripts/test.sh installs them). Not in a sanitizer build: the module is
# loaded into programs that were not started with the sanitizers' runtime.
if(VELES_SANITIZE)
  return()
endif()

add_test(NAME replication_pages
         COMMAND ${VELES_PYTHON} ${PROJECT_SOURCE_DIR}/test/replication/test_pages.py)
set_tests_properties(replication_pages PROPERTIES
  ENVIRONMENT "VELES_PATH=$<TARGET_FILE:veles>;VELES_SCRATCH=${VELES_BIND_SCRATCH}/replication_pages;PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 120)

# The preload library: a plain C library, with or without dqlite.
add_library(veles_preload MODULE ${PROJECT_SOURCE_DIR}/examples/dqlite/veles_preload.c)
set_target_properties(veles_preload PROPERTIES PREFIX "")
target_link_libraries(veles_preload PRIVATE SQLite::SQLite3 ${CMAKE_DL_LIBS}
                      Threads::Threads)

find_program(VELES_GO go)
find_program(VELES_DQLITE_DEMO dqlite-demo)
find_program(VELES_DQLITE_SHELL dqlite)
set(VELES_GOPATH /usr/share/gocode CACHE PATH
    "GOPATH holding go-dqlite's sources (Debian's golang-*-dev packages)")
if(NOT VELES_GO OR NOT VELES_DQLITE_DEMO OR NOT VELES_DQLITE_SHELL
   OR NOT EXISTS ${VELES_GOPATH}/src/github.com/canonical/go-dqlite/driver)
  message(STATUS "dqlite test off: needs go, dqlite-demo, dqlite and "
                 "go-dqlite's sources (scripts/test.sh installs them)")
  return()
endif()

# The client, built offline from Debian's Go sources (GOPATH mode).
set(VELES_DQLITE_CLIENT ${PROJECT_BINARY_DIR}/dqlite-client)
add_custom_command(OUTPUT ${VELES_DQLITE_CLIENT}
  COMMAND ${CMAKE_COMMAND} -E env GO111MODULE=off GOPATH=${VELES_GOPATH}
          GOCACHE=${PROJECT_BINARY_DIR}/go-cache GOFLAGS=
          ${VELES_GO} build -o ${VELES_DQLITE_CLIENT} .
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/examples/dqlite/client
  DEPENDS ${PROJECT_SOURCE_DIR}/examples/dqlite/client/main.go
  COMMENT "go build examples/dqlite/client")
add_custom_target(dqlite_client ALL DEPENDS ${VELES_DQLITE_CLIENT})

add_test(NAME replication_dqlite
         COMMAND ${VELES_PYTHON} ${PROJECT_SOURCE_DIR}/test/replication/test_dqlite.py)
set_tests_properties(replication_dqlite PROPERTIES
  ENVIRONMENT "VELES_PATH=$<TARGET_FILE:veles>;VELES_PRELOAD=$<TARGET_FILE:veles_preload>;DQLITE_CLIENT=${VELES_DQLITE_CLIENT};VELES_SCRATCH=${VELES_BIND_SCRATCH}/dqlite;PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 300)
