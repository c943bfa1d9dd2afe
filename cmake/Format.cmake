# `format-check` fails when clang-format would change a C file; `format` rewrites them.
find_program(QS_CLANG_FORMAT clang-format)
if(QS_CLANG_FORMAT)
    file(GLOB_RECURSE QS_C_FILES CONFIGURE_DEPENDS
        ${PROJECT_SOURCE_DIR}/util/*.[ch] ${PROJECT_SOURCE_DIR}/hsm/*.[ch]
        ${PROJECT_SOURCE_DIR}/auth/*.[ch] ${PROJECT_SOURCE_DIR}/sam/*.[ch]
        ${PROJECT_SOURCE_DIR}/db/*.[ch] ${PROJECT_SOURCE_DIR}/ca/*.[ch]
        ${PROJECT_SOURCE_DIR}/api/*.[ch] ${PROJECT_SOURCE_DIR}/cli/*.[ch]
        ${PROJECT_SOURCE_DIR}/tests/*.[ch] ${PROJECT_SOURCE_DIR}/bench/*.[ch])
    add_custom_target(format-check
        COMMAND ${QS_CLANG_FORMAT} --dry-run -Werror ${QS_C_FILES}
        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
        COMMENT "Checking C formatting with clang-format")
    add_custom_target(format
        COMMAND ${QS_CLANG_FORMAT} -i ${QS_C_FILES}
        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
        COMMENT "Formatting C sources with clang-format")
endif()
