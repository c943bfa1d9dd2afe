# shellcheck shell=bash
# Part "ca": the certification authority of the local stack, a self-signed test CA (nothing
# qualified) made once, through the SAM, as an operator would:
#   qsignctl ca init --self-signed --out var/pki/ca.pem
# (the CA and OCSP responder keys in the token, the root and the responder certificate; the
# subject and the URLs the certificates name are the [ca] section part-sam.sh writes).  The
# database (qsign.ca_state) says whether the CA exists, so `up` never initialises it twice; an
# existing CA's certificate is written to var/pki/ca.pem again when that file is missing or
# stale.  qsignd serves it as /pki/ca.crt (DER).

QL_PKI_DIR=$QL_VAR/pki
QL_CA_CERT=$QL_PKI_DIR/ca.pem
QL_CRL_FILE=$QL_PKI_DIR/crl.der # written by the SAM ([ca] crl_file)

# "pending", "active" or nothing (no CA yet).
ql_ca_state() {
    ql_psql_super -d "$QL_DB_NAME" -At -c "SELECT status FROM qsign.ca_state WHERE id = 1"
}

# The active CA's certificate, PEM, from the database.
ql_ca_cert_pem() {
    ql_psql_super -d "$QL_DB_NAME" -At -c \
        "SELECT translate(encode(ca_cert, 'base64'), E'\\n', '') FROM qsign.ca_state WHERE id = 1" |
        base64 -d | openssl x509 -inform DER -outform PEM
}

# "subject CN, until DATE" of a PEM certificate file.
ql_ca_describe() {
    local cn until
    cn=$(openssl x509 -in "$1" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')
    until=$(openssl x509 -in "$1" -noout -enddate | sed 's/^notAfter=//')
    printf '"%s", until %s' "$cn" "$until"
}

ca_up() {
    ql_step "CA: a self-signed test CA in the token, certificate $(ql_rel "$QL_CA_CERT")"
    ql_dir "$QL_PKI_DIR" 0755
    local state tmp pem
    state=$(ql_ca_state) || ql_die "could not read qsign.ca_state"
    case $state in
    "")
        # qsignctl (the service user) writes the certificate into a file made for it.
        tmp=$(mktemp "$QL_PKI_DIR/ca.XXXXXX")
        if ((EUID == 0)); then chown "$QL_SVC_USER:" -- "$tmp"; fi
        if ! ql_ctl ca init --self-signed --out "$tmp" --actor qsign-local; then
            rm -f -- "$tmp"
            ql_die "qsignctl ca init failed (log: $(ql_rel "$QL_SAM_LOG"))"
        fi
        if ((EUID == 0)); then chown "$(id -u):$(id -g)" -- "$tmp"; fi
        chmod 0644 -- "$tmp"
        mv -f -- "$tmp" "$QL_CA_CERT"
        ql_note "created the CA $(ql_ca_describe "$QL_CA_CERT"): $(ql_rel "$QL_CA_CERT")"
        ;;
    active)
        pem=$(ql_ca_cert_pem) || ql_die "could not read the CA certificate from qsign.ca_state"
        if ql_write "$QL_CA_CERT" 0644 self <<<"$pem"; then
            ql_note "wrote the CA certificate to $(ql_rel "$QL_CA_CERT")"
        fi
        ql_note "CA exists: $(ql_ca_describe "$QL_CA_CERT")"
        ;;
    pending)
        ql_note "CA pending: its request waits for an external root's certificate" \
            "(deploy/qsign-local ctl ca import-cert FILE); no certificate can be issued yet"
        ;;
    *) ql_die "qsign.ca_state has status '$state'" ;;
    esac
    [[ $state == pending ]] && return 0
    # The SAM publishes each CRL it makes to var/pki/crl.der; asking for the current one makes
    # the first at once (later ones come on revocation and on the SAM's own schedule).
    tmp=$(mktemp "$QL_PKI_DIR/crl.XXXXXX")
    if ((EUID == 0)); then chown "$QL_SVC_USER:" -- "$tmp"; fi
    ql_ctl crl "$tmp" >/dev/null || {
        rm -f -- "$tmp"
        ql_die "qsignctl crl failed (log: $(ql_rel "$QL_SAM_LOG"))"
    }
    rm -f -- "$tmp"
    [[ -s $QL_CRL_FILE ]] || ql_die "the SAM did not write $(ql_rel "$QL_CRL_FILE")"
    ql_note "CRL: $(ql_rel "$QL_CRL_FILE") (the SAM keeps it current)"
}

ca_down() { :; }

ca_status() {
    if [[ ! -s $QL_CA_CERT ]]; then
        printf '%-12s %s\n' "CA" "DOWN: no $(ql_rel "$QL_CA_CERT") (deploy/qsign-local up makes the CA)"
        return 1
    fi
    printf '%-12s %s\n' "CA" "up: $(ql_ca_describe "$QL_CA_CERT"), $(ql_rel "$QL_CA_CERT")"
}
