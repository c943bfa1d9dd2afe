# shellcheck shell=bash
# Part "demo": a demo signer to try the CSC API with (deploy/demo-sign, the README's curl
# session).  Made once, through qsignctl as an operator (an admin peer of the SAM) would:
#   signer create --username demo ... --method physical (identity evidence: a natural person
#   with clearly fake data, the document number on standard input; its activation code is
#   dropped, the operator sets the factors instead); account set-password (a random login
#   password); user enrol (a random 6-digit signing PIN and a new TOTP authenticator);
#   cert issue --user ID --alg ec-p256 (a new credential and its QCP-n-qscd certificate from the
#   local test CA, var/demo-cert.pem; its public key goes to var/demo-public-key.pem).
# Everything a client needs is kept in var/demo.json (mode 0600, the caller's: the demo signer's
# own secrets, not the service's): username, password, pin, totp_seed, otpauth_uri,
# credential_id, public_key_file, certificate_file, api, ca_file.  The first `up` prints it;
# later ones only say where it is.  A run that stopped half way resumes from var/demo.partial
# (same secrets, and the user found again by name).  A demo signer made before the CA (no
# certificate_file) gets a certificate for its credential when it can; one without identity
# evidence cannot: `deploy/qsign-local destroy` and `up` make a new instance.

QL_DEMO_USER=demo
QL_DEMO_JSON=$QL_VAR/demo.json
QL_DEMO_PARTIAL=$QL_VAR/demo.partial
QL_DEMO_PUBKEY=$QL_VAR/demo-public-key.pem
QL_DEMO_CERT=$QL_VAR/demo-cert.pem
# The demo signer's identity: fake, but in the formats the certificate profile checks (the
# personal code's check digit is wrong on purpose, so it names nobody).
QL_DEMO_SUBJECT=(--country EE --given-name Demo --surname Signer --common-name "Demo Signer"
    --serial-number PNOEE-38001010000)
QL_DEMO_DOCUMENT=ZZ0000000

ql_demo_api() { printf '%scsc/v2/' "$(ql_api_url)"; }

# The demo certificate, for the summary of `up`.
ql_demo_cert_summary() {
    if [[ -s $QL_DEMO_CERT ]]; then
        printf 'certificate %s (QCP-n-qscd profile, from the test CA)' "$(ql_rel "$QL_DEMO_CERT")"
    else
        printf 'no certificate (made before the CA)'
    fi
}

# ql_demo_get FILE KEY: a value of the partial state (KEY=value lines).
ql_demo_get() {
    [[ -f $1 ]] || return 0
    sed -n "s/^$2=//p" "$1" | tail -n 1
}

# ql_demo_put KEY VALUE: appends to the partial state (mode 0600).
ql_demo_put() {
    (
        umask 077
        printf '%s=%s\n' "$1" "$2" >>"$QL_DEMO_PARTIAL"
    )
}

# 6 random digits (the SAM's PIN policy: digits, 6 at least).
ql_demo_pin() {
    local n
    n=$(od -An -N4 -tu4 /dev/urandom | tr -d '[:space:]')
    printf '%06d' $((n % 1000000))
}

# The id of user demo, or nothing.
ql_demo_find_user() {
    ql_psql_super -d "$QL_DB_NAME" -At -c \
        "SELECT id FROM qsign.users WHERE username = '$QL_DEMO_USER'"
}

# Keeps api and ca_file of an existing var/demo.json current (QSIGN_API_PORT may change).
ql_demo_refresh() {
    local tmp
    tmp=$(jq --arg api "$(ql_demo_api)" --arg ca "$QL_TLS_CA" '.api = $api | .ca_file = $ca' \
        "$QL_DEMO_JSON") || ql_die "$QL_DEMO_JSON is not readable JSON; remove it to make the demo again"
    if ql_write "$QL_DEMO_JSON" 0600 self <<<"$tmp"; then
        ql_note "updated api and ca_file in $(ql_rel "$QL_DEMO_JSON")"
    fi
}

# ql_demo_issue OUT ARGS...: qsignctl cert issue ARGS, the certificate (PEM) to OUT; prints
# qsignctl's "credential ID" line.  qsignctl (the service user) writes into a file made for it.
ql_demo_issue() {
    local out=$1 tmp lines
    shift
    tmp=$(mktemp "$QL_VAR/demo-cert.XXXXXX")
    if ((EUID == 0)); then chown "$QL_SVC_USER:" -- "$tmp"; fi
    if ! lines=$(ql_ctl cert issue "$@" --out "$tmp" --actor qsign-local); then
        rm -f -- "$tmp"
        return 1
    fi
    if ((EUID == 0)); then chown "$(id -u):$(id -g)" -- "$tmp"; fi
    chmod 0644 -- "$tmp"
    mv -f -- "$tmp" "$out"
    sed -n 's/^credential //p' <<<"$lines"
}

# ql_demo_pubkey: var/demo-public-key.pem from the certificate.
ql_demo_pubkey() {
    openssl x509 -in "$QL_DEMO_CERT" -noout -pubkey >"$QL_DEMO_PUBKEY.new" &&
        chmod 0644 -- "$QL_DEMO_PUBKEY.new" && mv -f -- "$QL_DEMO_PUBKEY.new" "$QL_DEMO_PUBKEY"
}

# A demo signer made before the CA: a certificate for its credential, if the SAM will issue one.
ql_demo_certify_old() {
    local cred tmp
    [[ -z $(jq -r '.certificate_file // empty' "$QL_DEMO_JSON") ]] || return 0
    cred=$(jq -r '.credential_id // empty' "$QL_DEMO_JSON")
    [[ -n $cred ]] || return 0
    if [[ ! -s $QL_DEMO_CERT ]] && ! ql_demo_issue "$QL_DEMO_CERT" --credential "$cred" >/dev/null; then
        ql_note "no certificate for credential $cred (qsignctl said why above): a demo signer made"
        ql_note "before the CA has no identity evidence; for one with a certificate, make the"
        ql_note "instance again: deploy/qsign-local destroy && deploy/qsign-local up"
        return 0
    fi
    tmp=$(jq --arg cert "$QL_DEMO_CERT" '.certificate_file = $cert' "$QL_DEMO_JSON") ||
        ql_die "jq could not update $QL_DEMO_JSON"
    ql_write "$QL_DEMO_JSON" 0600 self <<<"$tmp" || true
    ql_note "issued a certificate for credential $cred: $(ql_rel "$QL_DEMO_CERT")"
}

demo_up() {
    ql_step "demo signer: user $QL_DEMO_USER, an EC P-256 credential ($(ql_rel "$QL_DEMO_JSON"))"
    if [[ -s $QL_DEMO_JSON ]]; then
        ql_demo_refresh
        ql_demo_certify_old
        ql_note "exists: $(ql_rel "$QL_DEMO_JSON") (mode 0600: login password, PIN, TOTP seed)"
        ql_note "try it: deploy/demo-sign"
        return 0
    fi
    local p=$QL_DEMO_PARTIAL password pin user uri seed cred json out
    [[ ! -e $p || -O $p ]] || ql_die "$p belongs to someone else; remove it"
    password=$(ql_demo_get "$p" password)
    pin=$(ql_demo_get "$p" pin)
    if [[ -z $password || -z $pin ]]; then
        password=$(openssl rand -base64 18 | tr '+/' '-_')
        pin=$(ql_demo_pin)
        ql_demo_put password "$password"
        ql_demo_put pin "$pin"
    fi

    user=$(ql_demo_get "$p" user_id)
    if [[ -z $user ]]; then
        user=$(ql_demo_find_user) || ql_die "could not look up user $QL_DEMO_USER"
        if [[ -n $user ]]; then
            ql_note "user $QL_DEMO_USER exists (id $user): giving it new factors"
        else
            # The activation code it prints is not kept: the operator enrols the factors below.
            out=$(ql_ctl signer create --username "$QL_DEMO_USER" "${QL_DEMO_SUBJECT[@]}" \
                --method physical --document-type id_card --document-country EE \
                --notes "qsign-local demo signer: fake identity" \
                --actor qsign-local <<<"$QL_DEMO_DOCUMENT") || ql_die "qsignctl signer create failed"
            user=$(sed -n 's/^user //p' <<<"$out")
            [[ -n $user ]] || ql_die "qsignctl signer create printed no user id"
            ql_note "created user $QL_DEMO_USER (signer, id $user), identity evidence: physical," \
                "id_card EE (fake)"
        fi
        ql_demo_put user_id "$user"
    fi

    if [[ -z $(ql_demo_get "$p" password_set) ]]; then
        ql_ctl account set-password --user "$user" <<<"$password" >/dev/null ||
            ql_die "qsignctl account set-password failed"
        ql_demo_put password_set 1
        ql_note "set its login password"
    fi

    uri=$(ql_demo_get "$p" otpauth_uri)
    if [[ -z $uri ]]; then
        uri=$(ql_ctl user enrol --user "$user" --actor qsign-local <<<"$pin") ||
            ql_die "qsignctl user enrol failed"
        ql_demo_put otpauth_uri "$uri"
        ql_note "enrolled its signing PIN and a TOTP authenticator"
    fi
    seed=$(sed -nE 's/^otpauth:.*[?&]secret=([A-Z2-7]+).*$/\1/p' <<<"$uri")
    [[ -n $seed ]] || ql_die "qsignctl user enrol printed no otpauth URI with a secret"

    cred=$(ql_demo_get "$p" credential_id)
    if [[ -z $cred || ! -s $QL_DEMO_CERT ]]; then
        cred=$(ql_demo_issue "$QL_DEMO_CERT" --user "$user" --alg ec-p256) || ql_die "qsignctl cert issue failed"
        [[ -n $cred ]] || ql_die "qsignctl cert issue printed no credential id"
        ql_demo_put credential_id "$cred"
        ql_note "created credential $cred (EC P-256) and its certificate $(ql_rel "$QL_DEMO_CERT")"
    fi
    ql_demo_pubkey || ql_die "could not write $QL_DEMO_PUBKEY from $QL_DEMO_CERT"

    json=$(jq -n --arg username "$QL_DEMO_USER" --arg password "$password" --arg pin "$pin" \
        --arg seed "$seed" --arg uri "$uri" --arg cred "$cred" --arg pub "$QL_DEMO_PUBKEY" \
        --arg cert "$QL_DEMO_CERT" --arg api "$(ql_demo_api)" --arg ca "$QL_TLS_CA" \
        '{username: $username, password: $password, pin: $pin, totp_seed: $seed,
          otpauth_uri: $uri, credential_id: $cred, public_key_file: $pub,
          certificate_file: $cert, api: $api, ca_file: $ca}') || ql_die "jq could not write the demo signer's file"
    ql_write "$QL_DEMO_JSON" 0600 self <<<"$json" || true
    rm -f -- "$p"
    ql_note "wrote $(ql_rel "$QL_DEMO_JSON") (mode 0600); shown this once:"
    printf '      %-12s %s\n' username "$QL_DEMO_USER" \
        password "$password  (login password: HTTP Basic on auth/login)" \
        PIN "$pin  (signing PIN)" \
        "TOTP seed" "$seed  (codes: oathtool --totp -b SEED)" \
        credential "$cred" certificate "$(ql_rel "$QL_DEMO_CERT")" API "$(ql_demo_api)" \
        "CA file" "$QL_TLS_CA"
    ql_note "try it: deploy/demo-sign (or the curl session in README.md)"
}

demo_down() { :; }

demo_status() {
    if [[ ! -s $QL_DEMO_JSON ]]; then
        printf '%-12s %s\n' "demo" "DOWN: no $(ql_rel "$QL_DEMO_JSON") (deploy/qsign-local up makes it)"
        return 1
    fi
    local cred cert
    cred=$(jq -r '.credential_id // empty' "$QL_DEMO_JSON" 2>/dev/null) || true
    cert=$(jq -r '.certificate_file // empty' "$QL_DEMO_JSON" 2>/dev/null) || true
    printf '%-12s %s\n' "demo" \
        "up: user $QL_DEMO_USER${cred:+, credential $cred}, $(ql_rel "$QL_DEMO_JSON")${cert:+, certificate $(ql_rel "$cert")}"
}
