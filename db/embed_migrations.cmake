# Generates a C source holding every db/migrations/NNNN-name.sql file as a byte array, so the
# binaries carry their migrations and need no data files at run time.
#   cmake -DDIR=<migrations dir> -DOUT=<output .c> -P embed_migrations.cmake
# File names must be NNNN-name.sql (name: lowercase letters, digits and dashes), numbered 1, 2,
# 3, ... without gaps.  A migration runs inside the migrator's transaction, so it must not hold
# transaction control statements of its own.
if(NOT DIR OR NOT OUT)
    message(FATAL_ERROR "usage: cmake -DDIR=<dir> -DOUT=<file.c> -P embed_migrations.cmake")
endif()

file(GLOB files RELATIVE ${DIR} ${DIR}/*.sql)
list(SORT files)

set(arrays "")
set(entries "")
set(expected 1)
foreach(f IN LISTS files)
    if(NOT f MATCHES "^([0-9][0-9][0-9][0-9])-([a-z0-9][a-z0-9-]*)\\.sql$")
        message(FATAL_ERROR "${DIR}/${f}: migration files are named NNNN-name.sql "
                            "(lowercase letters, digits, dashes)")
    endif()
    set(digits ${CMAKE_MATCH_1})
    string(REGEX REPLACE "^0+" "" version "${digits}")
    if(NOT version EQUAL expected)
        message(FATAL_ERROR "${DIR}/${f}: expected migration number ${expected}; "
                            "migrations are numbered 1, 2, 3, ... without gaps")
    endif()
    string(REGEX REPLACE "\\.sql$" "" name "${f}")

    file(READ ${DIR}/${f} text)
    string(LENGTH "${text}" text_len)
    if(text_len EQUAL 0)
        message(FATAL_ERROR "${DIR}/${f}: empty migration")
    endif()
    string(TOUPPER "${text}" upper)
    if(upper MATCHES "(^|[\n;])[ \t]*(BEGIN|COMMIT|ROLLBACK|START[ \t]+TRANSACTION)[ \t]*;")
        message(FATAL_ERROR "${DIR}/${f}: a migration must not contain transaction control "
                            "(BEGIN/COMMIT/ROLLBACK); each runs in the migrator's transaction")
    endif()

    file(READ ${DIR}/${f} hex HEX)
    string(LENGTH "${hex}" hex_len)
    math(EXPR nbytes "${hex_len} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    # Break the initializer into lines of 16 bytes (CMake regexes have no {n} counts).
    string(REPEAT "0x[0-9a-f][0-9a-f]," 16 sixteen)
    string(REGEX REPLACE "(${sixteen})" "\\1\n    " bytes "${bytes}")
    string(APPEND arrays
        "/* ${f} */\nstatic const unsigned char migration_${digits}[] = {\n    ${bytes}0x00};\n\n")
    string(APPEND entries
        "    {${version}, \"${name}\", (const char *)migration_${digits}, ${nbytes}},\n")
    math(EXPR expected "${expected} + 1")
endforeach()
math(EXPR count "${expected} - 1")
if(count EQUAL 0)
    message(FATAL_ERROR "${DIR}: no migrations")
endif()

set(content "/* Generated from the SQL files in db/migrations by db/embed_migrations.cmake: do not edit. */
#include \"db/db_internal.h\"

${arrays}const qs_db_migration qs_db_migrations[] = {
${entries}};

const size_t qs_db_migrations_count = ${count};
")

# Rewrite only on change, so an unchanged set does not rebuild the library.
if(EXISTS ${OUT})
    file(READ ${OUT} old)
    if(old STREQUAL content)
        return()
    endif()
endif()
file(WRITE ${OUT} "${content}")
