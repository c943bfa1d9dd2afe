# Compiler flags: warnings are errors, hardening everywhere, three build types.
#   Debug     -Og -g
#   Release   -O2, no debug info
#   Sanitize  -O1 -g with AddressSanitizer + UndefinedBehaviorSanitizer (aborting on the first
#             report); with clang also libFuzzer coverage, so the fuzz harnesses build in it.
set(CMAKE_CONFIGURATION_TYPES Debug Release Sanitize)
set_property(CACHE CMAKE_BUILD_TYPE PROPERTY STRINGS Debug Release Sanitize)

add_compile_definitions(_GNU_SOURCE)
add_compile_options(
    -Wall -Wextra -Werror -Wformat=2 -Wformat-security -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wvla -Wno-unused-parameter
    -fstack-protector-strong -fstack-clash-protection -fno-strict-aliasing
    -D_FORTIFY_SOURCE=2)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wlogical-op -Wduplicated-cond)
endif()

set(CMAKE_POSITION_INDEPENDENT_CODE ON)
add_link_options(-pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack -Wl,--as-needed)

set(CMAKE_C_FLAGS_DEBUG "-Og -g")
set(CMAKE_C_FLAGS_RELEASE "-O2")
set(CMAKE_C_FLAGS_SANITIZE
    "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all")
set(CMAKE_EXE_LINKER_FLAGS_SANITIZE "-fsanitize=address,undefined")
set(CMAKE_SHARED_LINKER_FLAGS_SANITIZE "-fsanitize=address,undefined")
if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
    string(APPEND CMAKE_C_FLAGS_SANITIZE " -fsanitize=fuzzer-no-link")
endif()

string(TOUPPER "${CMAKE_BUILD_TYPE}" QS_BUILD_TYPE_UPPER)
if(QS_BUILD_TYPE_UPPER STREQUAL "SANITIZE")
    set(QS_SANITIZE ON)
else()
    set(QS_SANITIZE OFF)
endif()
