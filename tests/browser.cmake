# The signers' web page in a real browser (tests/browser/): tests/browser/run-web-test installs
# playwright-core with `npm ci` into this build directory, brings up the local stack in a
# throwaway instance on free ports (as deploy_local_stack does), registers a fresh signer with
# qsignctl, drives Debian's Chromium headless through the page (login, activation with the TOTP
# secret and QR code, a wrong OTP, two documents signed and downloaded, expired session,
# lockout, revoked certificate) and verifies both .p7s with `openssl cms -verify`.  Screenshots
# go to browser-artifacts/ here.  Like deploy_local_stack it runs the Release programs of
# build/release as they are (tests/run builds them first).
add_test(NAME browser_web_page COMMAND bash ${PROJECT_SOURCE_DIR}/tests/browser/run-web-test)
set_tests_properties(browser_web_page PROPERTIES
    LABELS "browser;deploy"
    SKIP_RETURN_CODE 77
    TIMEOUT 1500
    ENVIRONMENT "QS_SOURCE_DIR=${PROJECT_SOURCE_DIR};QS_BUILD_DIR=${CMAKE_BINARY_DIR};QS_DEPLOY_TIMEOUT=1200")
