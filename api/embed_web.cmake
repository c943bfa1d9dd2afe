# Generates a C source holding every file of the web page (api/web/) as a byte array with its
# URL path and Content-Type, so qsignd serves the page without data files at run time.
#   cmake -DDIR=<api/web> -DOUT=<output .c> -P embed_web.cmake
# File names: lowercase letters, digits, dots and dashes, ending in .html, .css, .js or .svg
# (the extension gives the Content-Type); each is served at /web/<name>.  The page runs under a
# Content-Security-Policy that forbids inline code and other origins, so an HTML file with an
# inline script or style, an event-handler attribute, or a script, style or image from another
# origin stops the build instead of failing in the browser.
if(NOT DIR OR NOT OUT)
    message(FATAL_ERROR "usage: cmake -DDIR=<dir> -DOUT=<file.c> -P embed_web.cmake")
endif()

file(GLOB files RELATIVE ${DIR} ${DIR}/*)
list(SORT files)

set(arrays "")
set(entries "")
set(count 0)
set(have_index FALSE)
foreach(f IN LISTS files)
    if(IS_DIRECTORY ${DIR}/${f})
        message(FATAL_ERROR "${DIR}/${f}: the web page is one flat folder")
    endif()
    if(NOT f MATCHES "^[a-z0-9][a-z0-9.-]*\\.(html|css|js|svg)$")
        message(FATAL_ERROR "${DIR}/${f}: web files are named with lowercase letters, digits, "
                            "dots and dashes, and end in .html, .css, .js or .svg")
    endif()
    set(ext ${CMAKE_MATCH_1})
    if(ext STREQUAL "html")
        set(type "text/html; charset=utf-8")
    elseif(ext STREQUAL "css")
        set(type "text/css; charset=utf-8")
    elseif(ext STREQUAL "js")
        set(type "text/javascript; charset=utf-8")
    else()
        set(type "image/svg+xml")
    endif()
    if(f STREQUAL "index.html")
        set(have_index TRUE)
    endif()

    file(READ ${DIR}/${f} text)
    string(LENGTH "${text}" text_len)
    if(text_len EQUAL 0)
        message(FATAL_ERROR "${DIR}/${f}: empty file")
    endif()
    if(ext STREQUAL "html")
        string(TOLOWER "${text}" lower)
        string(REGEX MATCHALL "<script[^>]*>" tags "${lower}")
        foreach(tag IN LISTS tags)
            if(NOT tag MATCHES "[ \t\r\n]src=")
                message(FATAL_ERROR "${DIR}/${f}: inline script (the CSP allows scripts from "
                                    "files only)")
            endif()
        endforeach()
        if(lower MATCHES "<style" OR lower MATCHES "[ \t\r\n]style=")
            message(FATAL_ERROR "${DIR}/${f}: inline style (the CSP allows stylesheets from files only)")
        endif()
        if(lower MATCHES "[ \t\r\n]on[a-z]+=")
            message(FATAL_ERROR "${DIR}/${f}: event-handler attribute (the CSP forbids inline code)")
        endif()
        if(lower MATCHES "(src|href)=\"?(https?:)?//")
            message(FATAL_ERROR "${DIR}/${f}: a file from another origin (the page uses its own only)")
        endif()
    endif()

    file(READ ${DIR}/${f} hex HEX)
    string(LENGTH "${hex}" hex_len)
    math(EXPR nbytes "${hex_len} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    # Lines of 16 bytes (CMake regexes have no {n} counts).
    string(REPEAT "0x[0-9a-f][0-9a-f]," 16 sixteen)
    string(REGEX REPLACE "(${sixteen})" "\\1\n    " bytes "${bytes}")
    string(APPEND arrays
        "/* ${f} */\nstatic const uint8_t web_${count}[] = {\n    ${bytes}0x00};\n\n")
    string(APPEND entries "    {\"/web/${f}\", \"${type}\", web_${count}, ${nbytes}},\n")
    math(EXPR count "${count} + 1")
endforeach()
if(NOT have_index)
    message(FATAL_ERROR "${DIR}: no index.html")
endif()

set(content "/* Generated from the files in api/web by api/embed_web.cmake: do not edit. */
#include \"api/api_internal.h\"

${arrays}const api_web_asset api_web_assets[] = {
${entries}};

const size_t api_web_assets_count = ${count};
")

# Rewrite only on change, so an unchanged page does not rebuild the library.
if(EXISTS ${OUT})
    file(READ ${OUT} old)
    if(old STREQUAL content)
        return()
    endif()
endif()
file(WRITE ${OUT} "${content}")
