/*
 * Operations on a scratch table (public.qs_test_counter), for the tests of the transaction
 * runner only: they give a test something to read and write under contention.  Linked into
 * tests through qsign_db_testing, never into a daemon.
 */
#ifndef QS_DB_DB_TESTING_H
#define QS_DB_DB_TESTING_H

#include <stdint.h>

#include "db/db.h"

/* Creates the scratch table if missing (needs CREATE on schema public). */
QS_MUST_CHECK qs_err qs_db_test_counter_create(qs_db *db);

/* Reads counter `id`: QS_ERR_NOT_FOUND when it does not exist. */
QS_MUST_CHECK qs_err qs_db_test_counter_get(qs_db *db, int32_t id, int64_t *value);

/* Sets counter `id` to `value`, creating it if missing. */
QS_MUST_CHECK qs_err qs_db_test_counter_set(qs_db *db, int32_t id, int64_t value);

#endif
