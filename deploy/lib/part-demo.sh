# shellcheck shell=bash
# Part "demo": a demo signer to try the CSC API with (deploy/demo-sign, the README's curl
# session).  Made once, through qsignctl as an operator would:
#   user create --username demo --kind signer; account set-password (a random login password);
#   user enrol (a random 6-digit signing PIN and a new TOTP authenticator); credential create
#   --alg ec-p256 (its public key goes to var/demo-public-key.pem).
# Everything a client needs is kept in var/demo.json (mode 0600, the caller's: the demo signer's
# own secrets, not the service's): username, password, pin, totp_seed, otpauth_uri,
# credential_id, public_key_file, api, ca_file.  The first `up` prints it; later ones only say
# where it is.  A run that stopped half way resumes from var/demo.partial (same secrets, and the
# user found again by name).

QL_DEMO_USER=demo
QL_DEMO_JSON=$QL_VAR/demo.json
QL_DEMO_PARTIAL=$QL_VAR/demo.partial
QL_DEMO_PUBKEY=$QL_VAR/demo-public-key.pem

ql_demo_api() { printf '%scsc/v2/' "$(ql_api_url)"; }

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

demo_up() {
    ql_step "demo signer: user $QL_DEMO_USER, an EC P-256 credential ($(ql_rel "$QL_DEMO_JSON"))"
    if [[ -s $QL_DEMO_JSON ]]; then
        ql_demo_refresh
        ql_note "exists: $(ql_rel "$QL_DEMO_JSON") (mode 0600: login password, PIN, TOTP seed)"
        ql_note "try it: deploy/demo-sign"
        return 0
    fi
    local p=$QL_DEMO_PARTIAL password pin user uri seed cred pubtmp json
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
            user=$(ql_ctl user create --username "$QL_DEMO_USER" --kind signer \
                --actor qsign-local) || ql_die "qsignctl user create failed"
            ql_note "created user $QL_DEMO_USER (signer, id $user)"
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
    if [[ -z $cred || ! -s $QL_DEMO_PUBKEY ]]; then
        # qsignctl (the service user) writes the public key into a file made for it.
        pubtmp=$(mktemp "$QL_VAR/demo-public-key.XXXXXX")
        if ((EUID == 0)); then chown "$QL_SVC_USER:" -- "$pubtmp"; fi
        cred=$(ql_ctl credential create --user "$user" --alg ec-p256 --public-key "$pubtmp" \
            --actor qsign-local) || {
            rm -f -- "$pubtmp"
            ql_die "qsignctl credential create failed"
        }
        if ((EUID == 0)); then chown "$(id -u):$(id -g)" -- "$pubtmp"; fi
        chmod 0644 -- "$pubtmp"
        mv -f -- "$pubtmp" "$QL_DEMO_PUBKEY"
        ql_demo_put credential_id "$cred"
        ql_note "created credential $cred (EC P-256), public key $(ql_rel "$QL_DEMO_PUBKEY")"
    fi

    json=$(jq -n --arg username "$QL_DEMO_USER" --arg password "$password" --arg pin "$pin" \
        --arg seed "$seed" --arg uri "$uri" --arg cred "$cred" --arg pub "$QL_DEMO_PUBKEY" \
        --arg api "$(ql_demo_api)" --arg ca "$QL_TLS_CA" \
        '{username: $username, password: $password, pin: $pin, totp_seed: $seed,
          otpauth_uri: $uri, credential_id: $cred, public_key_file: $pub, api: $api,
          ca_file: $ca}') || ql_die "jq could not write the demo signer's file"
    ql_write "$QL_DEMO_JSON" 0600 self <<<"$json" || true
    rm -f -- "$p"
    ql_note "wrote $(ql_rel "$QL_DEMO_JSON") (mode 0600); shown this once:"
    printf '      %-12s %s\n' username "$QL_DEMO_USER" \
        password "$password  (login password: HTTP Basic on auth/login)" \
        PIN "$pin  (signing PIN)" \
        "TOTP seed" "$seed  (codes: oathtool --totp -b SEED)" \
        credential "$cred" API "$(ql_demo_api)" "CA file" "$QL_TLS_CA"
    ql_note "try it: deploy/demo-sign (or the curl session in README.md)"
}

demo_down() { :; }

demo_status() {
    if [[ ! -s $QL_DEMO_JSON ]]; then
        printf '%-12s %s\n' "demo" "DOWN: no $(ql_rel "$QL_DEMO_JSON") (deploy/qsign-local up makes it)"
        return 1
    fi
    local cred
    cred=$(jq -r '.credential_id // empty' "$QL_DEMO_JSON" 2>/dev/null) || true
    printf '%-12s %s\n' "demo" \
        "up: user $QL_DEMO_USER${cred:+, credential $cred}, $(ql_rel "$QL_DEMO_JSON")"
}
