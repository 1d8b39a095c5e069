# Included by the top-level CMakeLists.txt with the tests. bench_sweep at tiny sizes (6
# operators: 11 lines of 2 lengths, 2 batch sizes: 44 rows), then its CSV and SVG checked by
# check_output.cmake (a fixture orders the two; the files are left in the build directory).
add_test(NAME sample_bench_sweep
         COMMAND bench_sweep --T 16,40 --B 1,2 --H 2 --K 32 --V 32 --reps 2 --validate
                 --csv sample_bench_sweep.csv --svg sample_bench_sweep.svg)
add_test(NAME sample_bench_sweep_output
         COMMAND ${CMAKE_COMMAND} -DCSV=sample_bench_sweep.csv -DSVG=sample_bench_sweep.svg
                 -DROWS=44 -DSERIES=11 -P ${CMAKE_CURRENT_LIST_DIR}/check_output.cmake)
set_tests_properties(sample_bench_sweep PROPERTIES FIXTURES_SETUP sample_bench_sweep_files)
set_tests_properties(sample_bench_sweep_output
                     PROPERTIES FIXTURES_REQUIRED sample_bench_sweep_files)
foreach(t sample_bench_sweep sample_bench_sweep_output)
  set_property(TEST ${t} PROPERTY WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endforeach()
if(DVK_SANITIZE)
  set_property(TEST sample_bench_sweep APPEND PROPERTY ENVIRONMENT
               "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/common/lsan.supp:print_suppressions=0")
endif()
