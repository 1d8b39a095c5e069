# cmake -DMODE=package|pkgconfig|subdirectory -DPREFIX=<install> -DLIBDIR=<its lib dir>
#       -DCONSUMER_DIR=<consumer/> -DDELTAVK_SOURCE_DIR=<deltavk> -DWORK_DIR=<scratch>
#       -DGENERATOR=<gen> -DC_COMPILER=<cc> [-DPKG_CONFIG=<pkg-config>] -P run_consumer.cmake
# Builds consumer/ the way a user of deltavk would, and runs what it built.
#   package       find_package(deltavk) on the install: the shared and the static libraries
#   pkgconfig     `cc main.c $(pkg-config --cflags --libs deltavk_models)`, no CMake
#   subdirectory  add_subdirectory(<deltavk source>): deltavk built as part of the consumer
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

if(MODE STREQUAL "pkgconfig")
  set(ENV{PKG_CONFIG_PATH} ${LIBDIR}/pkgconfig)
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs deltavk_models
                  OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config does not know deltavk_models (${rc})")
  endif()
  message(STATUS "pkg-config --cflags --libs deltavk_models: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${C_COMPILER} -std=c11 ${CONSUMER_DIR}/main.c ${flags} -Wl,-rpath,${LIBDIR}
      -o ${WORK_DIR}/consumer)
  run(${WORK_DIR}/consumer)
  return()
endif()

set(args -S ${CONSUMER_DIR} -B ${WORK_DIR} -G ${GENERATOR} -DCMAKE_C_COMPILER=${C_COMPILER}
         -DCMAKE_BUILD_TYPE=Release -DCONSUMER_MODE=${MODE})
if(MODE STREQUAL "package")
  list(APPEND args -DCMAKE_PREFIX_PATH=${PREFIX})
  set(programs consumer consumer_static)
elseif(MODE STREQUAL "subdirectory")
  list(APPEND args -DDELTAVK_SOURCE_DIR=${DELTAVK_SOURCE_DIR})
  set(programs consumer)
else()
  message(FATAL_ERROR "MODE: package, pkgconfig or subdirectory, not '${MODE}'")
endif()
run(${CMAKE_COMMAND} ${args})
cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)
# Only the consumer's programs and what they need: in subdirectory mode, deltavk's libraries.
run(${CMAKE_COMMAND} --build ${WORK_DIR} --target ${programs} -j ${jobs})
foreach(p ${programs})
  run(${WORK_DIR}/${p})
endforeach()
