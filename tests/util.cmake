# util/: error registry, config loader, secret files, logging.
qs_add_test(NAME test_util_config SOURCES unit/test_util_config.c LIBS qsign_util LABELS unit)
qs_add_test(NAME test_util_secret SOURCES unit/test_util_secret.c LIBS qsign_util LABELS unit)
qs_add_test(NAME test_util_log SOURCES unit/test_util_log.c LIBS qsign_util LABELS unit)
qs_add_fuzzer(NAME config SOURCES fuzz/fuzz_config.c LIBS qsign_util)
