# cmake -DBUILD_DIR=<build> -DPREFIX=<dir> -P install.cmake
# Installs the already-built tree into an empty PREFIX (the fixture of the package tests).
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
