# The checks of api/embed_web.cmake: a page the Content-Security-Policy would break, or a file
# qsignd could not serve, stops the build.  Each case is a folder with an index.html (and maybe
# more); the good one must embed, every bad one must fail naming the reason.
#   cmake -DEMBED=<api/embed_web.cmake> -DWORK=<scratch dir> -P test_web_embed.cmake
if(NOT EMBED OR NOT WORK)
    message(FATAL_ERROR "usage: cmake -DEMBED=<embed_web.cmake> -DWORK=<dir> -P test_web_embed.cmake")
endif()
file(REMOVE_RECURSE ${WORK})

set(ok_html "<!doctype html><html><head><script src=\"/web/app.js\" defer></script><link rel=\"stylesheet\" href=\"/web/app.css\"></head><body><p class=\"x\">one-time code</p></body></html>\n")

# case NAME EXPECTED-MESSAGE FILE CONTENT [FILE CONTENT...]; EXPECTED-MESSAGE "" means success
function(embed_case name expect)
    set(dir ${WORK}/${name})
    file(MAKE_DIRECTORY ${dir})
    set(args ${ARGN})
    list(LENGTH args n)
    math(EXPR last "${n} - 1")
    foreach(i RANGE 0 ${last} 2)
        math(EXPR j "${i} + 1")
        list(GET args ${i} f)
        list(GET args ${j} content)
        if(content STREQUAL "<empty>") # an empty argument would vanish from the list
            set(content "")
        endif()
        file(WRITE ${dir}/${f} "${content}")
    endforeach()
    execute_process(COMMAND ${CMAKE_COMMAND} -DDIR=${dir} -DOUT=${WORK}/${name}.c -P ${EMBED}
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(expect STREQUAL "")
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "${name}: refused: ${err}")
        endif()
        file(READ ${WORK}/${name}.c c)
        if(NOT c MATCHES "\"/web/index.html\", \"text/html; charset=utf-8\"")
            message(FATAL_ERROR "${name}: index.html not in the generated table")
        endif()
    else()
        if(rc EQUAL 0)
            message(FATAL_ERROR "${name}: embedded, but should fail with \"${expect}\"")
        endif()
        string(REGEX REPLACE "[ \t\r\n]+" " " err "${err}") # CMake wraps its messages
        string(FIND "${err}" "${expect}" at)
        if(at EQUAL -1)
            message(FATAL_ERROR "${name}: failed without \"${expect}\": ${err}")
        endif()
    endif()
    message(STATUS "${name}: ok")
endfunction()

embed_case(good "" index.html "${ok_html}" app.js "let a = 1;" app.css "p{}" favicon.svg "<svg/>")
embed_case(inline_script "inline script" index.html "<html><script>alert(1)</script></html>")
embed_case(inline_script_attrs "inline script"
    index.html "<html><script type=\"module\">alert(1)</script></html>")
embed_case(style_element "inline style" index.html "<html><style>p{}</style></html>")
embed_case(style_attribute "inline style" index.html "<html><p style=\"color:red\">x</p></html>")
embed_case(event_handler "event-handler attribute"
    index.html "<html><button onclick=\"x()\">x</button></html>")
embed_case(remote_script "another origin"
    index.html "<html><script src=\"https://cdn.example/x.js\"></script></html>")
embed_case(remote_style "another origin"
    index.html "<html><link rel=\"stylesheet\" href=\"//cdn.example/x.css\"></html>")
embed_case(bad_name "web files are named" index.html "${ok_html}" App.js "x")
embed_case(bad_extension "web files are named" index.html "${ok_html}" logo.png "x")
embed_case(empty_file "empty file" index.html "${ok_html}" app.js "<empty>")
embed_case(no_index "no index.html" app.js "x")
