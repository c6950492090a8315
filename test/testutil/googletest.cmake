# Included by test/client and test/chaos: GoogleTest from Debian's sources (libgtest-dev ships
# /usr/src/googletest), compiled with the including project's flags (sanitizers included);
# the prebuilt static library otherwise. Sets GTEST_TARGETS, the targets to link.
if(EXISTS /usr/src/googletest/CMakeLists.txt)
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory(/usr/src/googletest ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
  set(GTEST_TARGETS gtest gtest_main)
else()
  find_package(GTest REQUIRED)
  set(GTEST_TARGETS GTest::gtest GTest::gtest_main)
endif()
