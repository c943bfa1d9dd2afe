# shellcheck shell=bash
# Part "hsm": a SoftHSMv2 token of the instance's own (var/softhsm) and the service keys in it
# (`qsignctl hsm init`, idempotent).  The token is made once, with random user and SO PINs kept
# in var/secrets/hsm-pin and var/secrets/hsm-so-pin; `up` never re-creates it.

QL_SOFTHSM_DIR=$QL_VAR/softhsm
QL_SOFTHSM_CONF=$QL_SOFTHSM_DIR/softhsm2.conf
QL_TOKEN_LABEL=qsign
QL_HSM_PIN=$QL_SECRETS/hsm-pin
QL_HSM_SO_PIN=$QL_SECRETS/hsm-so-pin

# The PKCS#11 module: QSIGN_PKCS11_MODULE, else SoftHSMv2's where Debian puts it.
# shellcheck disable=SC2034 # QL_PKCS11_MODULE goes into qsignctl.conf (deploy/qsign-local)
ql_hsm_find_module() {
    local m arch=""
    if [[ -n ${QSIGN_PKCS11_MODULE-} ]]; then
        QL_PKCS11_MODULE=$QSIGN_PKCS11_MODULE
        return 0
    fi
    arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
    QL_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
    for m in /usr/lib/softhsm/libsofthsm2.so ${arch:+/usr/lib/$arch/softhsm/libsofthsm2.so}; do
        if [[ -f $m ]]; then
            QL_PKCS11_MODULE=$m
            return 0
        fi
    done
}

ql_softhsm_util() { ql_as_svc env SOFTHSM2_CONF="$QL_SOFTHSM_CONF" softhsm2-util "$@"; }

# True when a token with our label is initialized.
ql_hsm_token_present() {
    [[ -f $QL_SOFTHSM_CONF ]] || return 1
    ql_softhsm_util --show-slots 2>/dev/null | awk -v want="$QL_TOKEN_LABEL" '
        /^[[:space:]]*Label:/ {
            sub(/^[[:space:]]*Label:[[:space:]]*/, ""); sub(/[[:space:]]+$/, "")
            if ($0 == want) found = 1
        }
        END { exit !found }'
}

hsm_up() {
    ql_step "SoftHSM: token \"$QL_TOKEN_LABEL\" in $(ql_rel "$QL_SOFTHSM_DIR/tokens"), service keys"
    ql_dir "$QL_SOFTHSM_DIR" 0700
    ql_dir "$QL_SOFTHSM_DIR/tokens" 0700
    ql_write "$QL_SOFTHSM_CONF" 0600 svc <<EOF || true
# SoftHSMv2 configuration of the qsign local stack (written by deploy/qsign-local).
directories.tokendir = $QL_SOFTHSM_DIR/tokens
objectstore.backend = file
log.level = ERROR
EOF
    if ql_hsm_token_present; then
        ql_note "token exists"
    else
        if [[ -n $(find "$QL_SOFTHSM_DIR/tokens" -mindepth 1 -maxdepth 1 2>/dev/null) ]]; then
            ql_die "$QL_SOFTHSM_DIR/tokens holds a token without label \"$QL_TOKEN_LABEL\"; not touching it"
        fi
        # PINs without a token: the token was deleted.  Its keys are gone with it, and wrapped
        # keys in the database are useless: start over rather than make a new token silently.
        if [[ -e $QL_HSM_PIN || -e $QL_HSM_SO_PIN ]]; then
            ql_die "the token \"$QL_TOKEN_LABEL\" is gone but its PINs are in $QL_SECRETS;" \
                "start over with: deploy/qsign-local destroy"
        fi
        ql_secret "$QL_HSM_PIN" 16
        ql_secret "$QL_HSM_SO_PIN" 16
        # softhsm2-util takes PINs only as arguments or from a terminal; the command line is
        # visible to local users for the moment it runs, which is acceptable for this stack only.
        if ! ql_softhsm_util --init-token --free --label "$QL_TOKEN_LABEL" \
            --pin "$(<"$QL_HSM_PIN")" --so-pin "$(<"$QL_HSM_SO_PIN")" >/dev/null; then
            rm -f -- "$QL_HSM_PIN" "$QL_HSM_SO_PIN" # never used: the next `up` makes new ones
            ql_die "softhsm2-util --init-token failed"
        fi
        ql_note "created token \"$QL_TOKEN_LABEL\""
    fi
    [[ -s $QL_HSM_PIN && -s $QL_HSM_SO_PIN ]] ||
        ql_die "the token exists but its PIN files are missing from $QL_SECRETS;" \
            "the token cannot be used (start over with: deploy/qsign-local destroy)"
    ql_ctl hsm init 2>&1 | ql_indent || ql_die "qsignctl hsm init failed"
}

hsm_down() { :; }

hsm_status() {
    if ! ql_hsm_token_present; then
        printf '%-12s %s\n' "SoftHSM" "DOWN: no token \"$QL_TOKEN_LABEL\" in $(ql_rel "$QL_SOFTHSM_DIR/tokens")"
        return 1
    fi
    local out rc=0
    out=$(ql_ctl hsm status 2>&1) || rc=$?
    if ((rc == 0)); then
        printf '%-12s %s\n' "SoftHSM" "up: token \"$QL_TOKEN_LABEL\" in $(ql_rel "$QL_SOFTHSM_DIR/tokens")"
    else
        printf '%-12s %s\n' "SoftHSM" "DOWN: token present, qsignctl hsm status failed"
    fi
    [[ -z $out ]] || printf '%s\n' "$out" | sed 's/^/             /'
    return $rc
}
