# Included by client/CMakeLists.txt for the CLI: command-line parsing (CLI11), the web
# dashboard and /metrics (cpp-httplib), and the dashboard's page compiled into the binary.
find_package(CLI11 2 REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

set(TASKMILL_DASHBOARD_ASSETS assets/index.html assets/app.css assets/app.js assets/favicon.svg)
set(TASKMILL_DASHBOARD_DIR ${CMAKE_CURRENT_LIST_DIR})
list(TRANSFORM TASKMILL_DASHBOARD_ASSETS PREPEND ${TASKMILL_DASHBOARD_DIR}/
     OUTPUT_VARIABLE TASKMILL_DASHBOARD_ASSET_PATHS)
string(REPLACE ";" "," TASKMILL_DASHBOARD_ASSET_LIST "${TASKMILL_DASHBOARD_ASSETS}")
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/dashboard_assets.cpp
  COMMAND ${CMAKE_COMMAND} -DOUT=${CMAKE_CURRENT_BINARY_DIR}/dashboard_assets.cpp
          -DASSETS=${TASKMILL_DASHBOARD_ASSET_LIST} -P ${TASKMILL_DASHBOARD_DIR}/embed.cmake
  DEPENDS ${TASKMILL_DASHBOARD_ASSET_PATHS} ${TASKMILL_DASHBOARD_DIR}/embed.cmake
  COMMENT "Embedding the dashboard's page"
  VERBATIM)

target_sources(taskmill_cli PRIVATE
  ${TASKMILL_DASHBOARD_DIR}/server.cpp
  ${TASKMILL_DASHBOARD_DIR}/sampler.cpp
  ${TASKMILL_DASHBOARD_DIR}/security.cpp
  ${TASKMILL_DASHBOARD_DIR}/listen.cpp
  ${TASKMILL_DASHBOARD_DIR}/metrics_server.cpp
  ${CMAKE_CURRENT_BINARY_DIR}/dashboard_assets.cpp)
target_include_directories(taskmill_cli PRIVATE ${TASKMILL_DASHBOARD_DIR})
target_link_libraries(taskmill_cli PRIVATE CLI11::CLI11 PkgConfig::HTTPLIB)
