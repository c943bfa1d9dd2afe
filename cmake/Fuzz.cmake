# libFuzzer harnesses. They build in the Sanitize build with clang; ctest runs each for a bounded
# number of inputs from its seed corpus (tests/fuzz/corpus/<name>), so a crash fails the run.
# qs_add_fuzzer(NAME <name> SOURCES <files...> LIBS <targets...> [RUNS <n>])
set(QS_FUZZ_RUNS 20000 CACHE STRING "inputs each fuzz harness gets in ctest")
if(CMAKE_C_COMPILER_ID STREQUAL "Clang" AND QS_SANITIZE)
    set(QS_FUZZ ON)
else()
    set(QS_FUZZ OFF)
endif()

function(qs_add_fuzzer)
    cmake_parse_arguments(F "" "NAME;RUNS" "SOURCES;LIBS" ${ARGN})
    if(NOT QS_FUZZ)
        return()
    endif()
    if(NOT F_RUNS)
        set(F_RUNS ${QS_FUZZ_RUNS})
    endif()
    add_executable(fuzz_${F_NAME} ${F_SOURCES})
    target_link_libraries(fuzz_${F_NAME} PRIVATE ${F_LIBS})
    target_link_options(fuzz_${F_NAME} PRIVATE -fsanitize=fuzzer)
    set_target_properties(fuzz_${F_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    set(corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${F_NAME})
    set(work ${CMAKE_BINARY_DIR}/fuzz/corpus-${F_NAME})
    add_test(NAME fuzz_${F_NAME}
        COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
            $<TARGET_FILE:fuzz_${F_NAME}> -runs=${F_RUNS} -seed=1 -max_len=65536
            -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz/crash-${F_NAME}- ${work} ${corpus})
    set_tests_properties(fuzz_${F_NAME} PROPERTIES LABELS fuzz)
    file(MAKE_DIRECTORY ${work})
endfunction()
