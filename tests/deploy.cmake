# deploy/: the local stack brought up for real, and shellcheck on the shell scripts.
#
# deploy_local_stack runs tests/deploy/local-stack-test: `deploy/qsign-local up` (PostgreSQL,
# SoftHSM, qsign-sam, qsignd over TLS, the demo signer), deploy/demo-sign and the README's curl
# session signing a hash, status, up again, down, up, ctl and destroy in a throwaway instance
# (temporary QSIGN_VAR, free ports for PostgreSQL and qsignd).
# It uses the Release programs of build/release as they are (tests/run builds them before
# ctest; the test fails when they are missing) and needs root for the service user `qsign`
# (otherwise the stack runs as the calling user).  Its own directory and ports let it run beside
# the other tests.  The script stops itself before QS_DEPLOY_TIMEOUT, well within TIMEOUT, so
# its cleanup runs.
add_test(NAME deploy_local_stack
    COMMAND bash ${PROJECT_SOURCE_DIR}/tests/deploy/local-stack-test)
set_tests_properties(deploy_local_stack PROPERTIES
    LABELS "deploy"
    SKIP_RETURN_CODE 77
    TIMEOUT 1800
    ENVIRONMENT "QS_SOURCE_DIR=${PROJECT_SOURCE_DIR};QS_DEPLOY_TIMEOUT=1500")

add_test(NAME lint_shell COMMAND bash ${PROJECT_SOURCE_DIR}/tests/deploy/lint-shell)
set_tests_properties(lint_shell PROPERTIES
    LABELS "lint"
    SKIP_RETURN_CODE 77
    TIMEOUT 120
    ENVIRONMENT "QS_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
