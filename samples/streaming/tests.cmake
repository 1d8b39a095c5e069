# Included by the top-level CMakeLists.txt with the tests. streaming in two processes: --save
# writes the state file, --resume must continue it bit for bit as a run that never stopped (a
# fixture orders the two; both run in the build directory, where the file is left).
set(DVK_STREAMING_ARGS
    --model ${PROJECT_SOURCE_DIR}/tests/fixtures/tiny-rwkv7/tiny-rwkv-7v0-834K-FP32.bin
    --split 160 --tokens 8 --validate)
add_test(NAME sample_streaming_save
         COMMAND streaming --save sample_streaming_state.safetensors ${DVK_STREAMING_ARGS})
add_test(NAME sample_streaming_resume
         COMMAND streaming --resume sample_streaming_state.safetensors ${DVK_STREAMING_ARGS})
set_tests_properties(sample_streaming_save PROPERTIES FIXTURES_SETUP sample_streaming_state)
set_tests_properties(sample_streaming_resume PROPERTIES FIXTURES_REQUIRED sample_streaming_state)
foreach(t sample_streaming_save sample_streaming_resume)
  set_property(TEST ${t} PROPERTY WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  if(DVK_SANITIZE)
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
                 "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/common/lsan.supp:print_suppressions=0")
  endif()
endforeach()
