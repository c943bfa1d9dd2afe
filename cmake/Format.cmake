# `format-check` fails when clang-format would change a C file; `format` rewrites them.
# The files are every tracked or new (not ignored) *.c and *.h (every *.c and *.h outside
# build/ and var/ when the tree is not a git checkout), so a new module needs no list entry.
find_program(QS_CLANG_FORMAT clang-format)
if(QS_CLANG_FORMAT)
    set(QS_FORMAT_FILES
        "if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then git ls-files -z --cached --others --exclude-standard -- '*.c' '*.h'; else find . \\( -path ./build -o -path ./var -o -name node_modules \\) -prune -o \\( -name '*.c' -o -name '*.h' \\) -print0; fi")
    add_custom_target(format-check
        COMMAND sh -c "${QS_FORMAT_FILES} | xargs -0 -r ${QS_CLANG_FORMAT} --dry-run -Werror"
        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
        COMMENT "Checking C formatting with clang-format"
        VERBATIM)
    add_custom_target(format
        COMMAND sh -c "${QS_FORMAT_FILES} | xargs -0 -r ${QS_CLANG_FORMAT} -i"
        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
        COMMENT "Formatting C sources with clang-format"
        VERBATIM)
endif()
