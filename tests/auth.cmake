# auth/: TOTP, PIN, lockout, SAD handles.
qs_add_test(NAME test_totp SOURCES unit/test_totp.c LIBS qsign_auth LABELS unit)
qs_add_test(NAME test_pin SOURCES unit/test_pin.c LIBS qsign_auth LABELS unit)
qs_add_test(NAME test_auth_lockout SOURCES unit/test_auth_lockout.c LIBS qsign_auth LABELS unit)
