# db/: the database layer, its migrations, and the throwaway PostgreSQL cluster.
#
# One cluster serves the whole ctest run: pg_cluster_start / pg_cluster_stop are the setup and
# cleanup of fixture `pg`.  A test that needs PostgreSQL says FIXTURES pg and links
# qsign_test_pg (tests/lib/pg.h), which reads the cluster's env file named by QS_TEST_PG_ENV:
#   qs_add_test(NAME ... FIXTURES pg ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} LIBS qsign_test_pg ...)
set(QS_PG_CLUSTER_DIR ${CMAKE_BINARY_DIR}/tests/pg-cluster)
set(QS_PG_ENV_FILE ${QS_PG_CLUSTER_DIR}/env)
set(QS_PG_CLUSTER_SCRIPT ${PROJECT_SOURCE_DIR}/tests/lib/pg-cluster)

add_test(NAME pg_cluster_start COMMAND bash ${QS_PG_CLUSTER_SCRIPT} start ${QS_PG_CLUSTER_DIR})
set_tests_properties(pg_cluster_start PROPERTIES
    FIXTURES_SETUP pg
    SKIP_RETURN_CODE 77
    TIMEOUT 120
    LABELS "db"
    ENVIRONMENT "QS_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
add_test(NAME pg_cluster_stop COMMAND bash ${QS_PG_CLUSTER_SCRIPT} stop ${QS_PG_CLUSTER_DIR})
set_tests_properties(pg_cluster_stop PROPERTIES
    FIXTURES_CLEANUP pg
    TIMEOUT 120
    LABELS "db"
    ENVIRONMENT "QS_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

add_library(qsign_test_pg STATIC lib/pg.c)
target_link_libraries(qsign_test_pg PUBLIC qsign_testutil qsign_db PkgConfig::LIBPQ)

set(QS_DB_TEST_LIBS qsign_test_pg qsign_db qsign_db_testing PkgConfig::LIBPQ PkgConfig::SODIUM
    Threads::Threads)
foreach(t test_db_migrate test_db_privileges test_db_txn)
    qs_add_test(NAME ${t} SOURCES integration/${t}.c LIBS ${QS_DB_TEST_LIBS}
        LABELS db integration FIXTURES pg ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE})
endforeach()

# qsignctl db migrate/status, run as a program.
if(TARGET qsignctl)
    qs_add_test(NAME test_db_cli SOURCES integration/test_db_cli.c LIBS ${QS_DB_TEST_LIBS}
        LABELS db integration FIXTURES pg
        ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_QSIGNCTL=$<TARGET_FILE:qsignctl>)
endif()

# The migration embedding step refuses malformed migration sets (checked at build time).
set(QS_EMBED_CASES ${CMAKE_BINARY_DIR}/tests/embed-cases)
file(WRITE ${QS_EMBED_CASES}/good/0001-first.sql "CREATE TABLE qsign.a (x int);\n")
file(WRITE ${QS_EMBED_CASES}/good/0002-second.sql "CREATE TABLE qsign.b (x int);\n")
file(WRITE ${QS_EMBED_CASES}/gap/0001-first.sql "SELECT 1;\n")
file(WRITE ${QS_EMBED_CASES}/gap/0003-third.sql "SELECT 1;\n")
file(WRITE ${QS_EMBED_CASES}/badname/0001-First_Name.sql "SELECT 1;\n")
file(WRITE ${QS_EMBED_CASES}/txn/0001-first.sql "BEGIN;\nSELECT 1;\nCOMMIT;\n")
file(WRITE ${QS_EMBED_CASES}/empty/0001-first.sql "")
foreach(case good gap badname txn empty)
    add_test(NAME db_embed_migrations_${case}
        COMMAND ${CMAKE_COMMAND} -DDIR=${QS_EMBED_CASES}/${case}
                -DOUT=${QS_EMBED_CASES}/${case}.c
                -P ${PROJECT_SOURCE_DIR}/db/embed_migrations.cmake)
    set_tests_properties(db_embed_migrations_${case} PROPERTIES LABELS "db;unit")
    if(NOT case STREQUAL "good")
        set_tests_properties(db_embed_migrations_${case} PROPERTIES WILL_FAIL TRUE)
    endif()
endforeach()
