/* The lockout rule: what one factor verification does to the signer's failure counter. */
#include "auth/auth.h"

qs_lockout_decision qs_lockout_decide(uint32_t failed_attempts, uint32_t max_attempts,
                                      qs_factor_result result)
{
    qs_lockout_decision d = {
        .action = QS_LOCKOUT_REFUSE_LOCKED,
        .accept = false,
        .locked = true,
        .failed_attempts = failed_attempts,
        .remaining = 0,
    };

    if (failed_attempts >= max_attempts)
        return d;

    d.locked = false;
    switch (result) {
    case QS_FACTOR_OK:
        d.action = QS_LOCKOUT_RESET;
        d.accept = true;
        d.failed_attempts = 0;
        d.remaining = max_attempts;
        return d;
    case QS_FACTOR_FAILED:
        /* failed_attempts < max_attempts <= UINT32_MAX, so the increment cannot wrap */
        d.failed_attempts = failed_attempts + 1;
        d.locked = d.failed_attempts >= max_attempts;
        d.action = d.locked ? QS_LOCKOUT_LOCK : QS_LOCKOUT_RECORD_FAILURE;
        d.remaining = max_attempts - d.failed_attempts;
        return d;
    case QS_FACTOR_ERROR:
        d.action = QS_LOCKOUT_NO_CHANGE;
        d.remaining = max_attempts - failed_attempts;
        return d;
    }
    /* a value outside the enum: refuse without counting */
    d.action = QS_LOCKOUT_NO_CHANGE;
    d.remaining = max_attempts - failed_attempts;
    return d;
}
