/*
 * CAdES-B-B detached signatures: a throwaway CA (root + intermediate) issues EC P-256, EC P-384
 * and RSA-2048 signer certificates; a software key signs the digest the builder hands out
 * exactly as the HSM would (ECDSA over the digest, PKCS#1 v1.5 over a DigestInfo made here,
 * PSS with MGF1 and salt = hash length).  Every key, scheme and hash gives a .p7s that the real
 * `openssl cms -verify` accepts for the document and refuses for a changed one; the signed
 * attributes are decoded here and checked one by one, and the signed-attributes digest is
 * recomputed from the DER of the SignerInfo.  Bad arguments give errors and no output.
 *
 * QS_TEST_KEEP_TMP=1 keeps the working directory (certificates, document, .p7s files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cms/cms.h"
#include "tests/lib/testutil.h"

#define DOC_LEN   100000
#define PATH_MAX_ 512

/* ---- the throwaway PKI -------------------------------------------------------------------- */

typedef enum signer_kind {
    SIGNER_P256 = 0,
    SIGNER_P384 = 1,
    SIGNER_RSA = 2,
    SIGNER_COUNT = 3
} signer_kind;

typedef struct pki_cert {
    EVP_PKEY *key;
    X509 *x;
    uint8_t *der;
    size_t der_len;
} pki_cert;

static char dir[PATH_MAX_];
static pki_cert root, inter, signers[SIGNER_COUNT];
static uint8_t doc[DOC_LEN];
static int64_t now;

static void path_of(char *buf, size_t len, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < len);
}

static void write_file(const char *name, const uint8_t *data, size_t len)
{
    char path[PATH_MAX_ + 64];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A certificate for c->key named `cn`, issued by `issuer` (self-signed when NULL), with a
 * random 127-bit serial so issuerSerial has something to compare. */
static void make_cert(pki_cert *c, const char *cn, const pki_cert *issuer, bool ca)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    BIGNUM *bn = BN_new();
    assert_non_null(bn);
    assert_int_equal(BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY), 1);
    assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
    BN_free(bn);
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"EU", -1, -1, 0),
        1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                                (const unsigned char *)"qsign test", -1, -1, 0),
                     1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    X509 *iss = issuer != NULL ? issuer->x : x;
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(iss)), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600));
    assert_int_equal(X509_set_pubkey(x, c->key), 1);
    add_ext(x, iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, iss, NID_key_usage,
            ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,nonRepudiation");
    add_ext(x, iss, NID_subject_key_identifier, "hash");
    add_ext(x, iss, NID_authority_key_identifier, "keyid:always");
    EVP_PKEY *ikey = issuer != NULL ? issuer->key : c->key;
    assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
    c->x = x;
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    c->der = malloc((size_t)n);
    assert_non_null(c->der);
    memcpy(c->der, der, (size_t)n);
    c->der_len = (size_t)n;
    OPENSSL_free(der);
}

static void free_cert(pki_cert *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->x);
    free(c->der);
    memset(c, 0, sizeof *c);
}

static int setup(void **state)
{
    if (qs_test_system("command -v openssl >/dev/null 2>&1") != 0)
        qs_test_skip("the openssl command-line tool (apt-get install openssl)");
    qs_test_tmpdir("cms", dir, sizeof dir);

    root.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    inter.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    signers[SIGNER_P256].key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    signers[SIGNER_P384].key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    signers[SIGNER_RSA].key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(root.key);
    assert_non_null(inter.key);
    for (int i = 0; i < SIGNER_COUNT; i++)
        assert_non_null(signers[i].key);

    make_cert(&root, "qsign test root CA", NULL, true);
    make_cert(&inter, "qsign test issuing CA", &root, true);
    make_cert(&signers[SIGNER_P256], "Signer P-256", &inter, false);
    make_cert(&signers[SIGNER_P384], "Signer P-384", &inter, false);
    make_cert(&signers[SIGNER_RSA], "Signer RSA-2048", &inter, false);

    char path[PATH_MAX_ + 64];
    path_of(path, sizeof path, "ca.pem");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, root.x), 1);
    assert_int_equal(fclose(f), 0);

    assert_int_equal(RAND_bytes(doc, sizeof doc), 1);
    write_file("doc", doc, sizeof doc);
    doc[DOC_LEN / 2] ^= 1;
    write_file("doc-changed", doc, sizeof doc);
    doc[DOC_LEN / 2] ^= 1;
    now = (int64_t)time(NULL);
    return 0;
}

static int teardown(void **state)
{
    free_cert(&root);
    free_cert(&inter);
    for (int i = 0; i < SIGNER_COUNT; i++)
        free_cert(&signers[i]);
    const char *keep = getenv("QS_TEST_KEEP_TMP");
    if (keep != NULL && strcmp(keep, "1") == 0)
        fprintf(stderr, "kept %s\n", dir);
    else
        qs_test_rmtree(dir);
    return 0;
}

/* ---- the sign callback: a software key used the way the HSM uses its key ----------------- */

typedef enum cb_mode {
    CB_OK = 0,
    CB_FAIL,         /* returns QS_ERR_HSM */
    CB_WRONG_KEY,    /* signs with another key of the same kind */
    CB_TOO_LONG,     /* claims more bytes than the capacity */
    CB_RAW_ECDSA,    /* r||s instead of DER, as CKM_ECDSA returns before conversion */
    CB_FLIPPED,      /* a correct signature with one bit changed */
    CB_OTHER_SCHEME, /* RSA: PKCS#1 v1.5 when PSS is asked for, and the other way round */
} cb_mode;

typedef struct cb_state {
    EVP_PKEY *key;
    EVP_PKEY *other; /* for CB_WRONG_KEY */
    cb_mode mode;
    int calls;
    qs_sig_scheme scheme;
    qs_hash_alg hash;
    uint8_t digest[QS_HASH_MAX_LEN];
    size_t digest_len;
} cb_state;

static const EVP_MD *md_of(qs_hash_alg h)
{
    switch (h) {
    case QS_HASH_SHA256:
        return EVP_sha256();
    case QS_HASH_SHA384:
        return EVP_sha384();
    case QS_HASH_SHA512:
        return EVP_sha512();
    }
    return NULL;
}

static size_t len_of(qs_hash_alg h)
{
    return (size_t)EVP_MD_get_size(md_of(h));
}

/* DER DigestInfo (RFC 8017, 9.2) built with OpenSSL's X509_SIG, independent of the HSM code. */
static size_t digest_info(qs_hash_alg h, const uint8_t *digest, size_t dlen, uint8_t *out)
{
    X509_SIG *sig = X509_SIG_new();
    assert_non_null(sig);
    X509_ALGOR *alg = NULL;
    ASN1_OCTET_STRING *os = NULL;
    X509_SIG_getm(sig, &alg, &os);
    assert_int_equal(
        X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md_of(h))), V_ASN1_NULL, NULL), 1);
    assert_int_equal(ASN1_OCTET_STRING_set(os, digest, (int)dlen), 1);
    unsigned char *q = out;
    int n = i2d_X509_SIG(sig, &q);
    assert_true(n > 0 && n <= 19 + QS_HASH_MAX_LEN);
    X509_SIG_free(sig);
    return (size_t)n;
}

static qs_err soft_sign(void *cls, qs_sig_scheme scheme, qs_hash_alg hash, const uint8_t *digest,
                        size_t digest_len, uint8_t *sig, size_t *sig_len)
{
    cb_state *st = cls;
    st->calls++;
    st->scheme = scheme;
    st->hash = hash;
    assert_true(digest_len <= QS_HASH_MAX_LEN);
    assert_int_equal(digest_len, len_of(hash));
    memcpy(st->digest, digest, digest_len);
    st->digest_len = digest_len;
    if (st->mode == CB_FAIL)
        return QS_ERR_HSM;

    EVP_PKEY *key = st->mode == CB_WRONG_KEY ? st->other : st->key;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
    uint8_t in[19 + QS_HASH_MAX_LEN];
    size_t in_len = digest_len;
    memcpy(in, digest, digest_len);
    if (st->mode == CB_OTHER_SCHEME)
        scheme = scheme == QS_SIG_RSA_PSS ? QS_SIG_RSA_PKCS1 : QS_SIG_RSA_PSS;
    switch (scheme) {
    case QS_SIG_ECDSA:
        break;
    case QS_SIG_RSA_PKCS1:
        /* CKM_RSA_PKCS: raw PKCS#1 v1.5 padding over a DigestInfo the caller made. */
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
        in_len = digest_info(hash, digest, digest_len, in);
        break;
    case QS_SIG_RSA_PSS:
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, md_of(hash)), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md_of(hash)), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)digest_len), 1);
        break;
    }
    size_t cap = *sig_len;
    assert_int_equal(cap, (size_t)EVP_PKEY_get_size(key));
    assert_int_equal(EVP_PKEY_sign(ctx, sig, sig_len, in, in_len), 1);
    EVP_PKEY_CTX_free(ctx);

    if (st->mode == CB_TOO_LONG)
        *sig_len = cap + 1;
    if (st->mode == CB_FLIPPED)
        sig[*sig_len / 2] ^= 0x10;
    if (st->mode == CB_RAW_ECDSA) {
        const unsigned char *q = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)*sig_len);
        assert_non_null(es);
        int half = (EVP_PKEY_get_bits(key) + 7) / 8;
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, half), half);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, half), half);
        *sig_len = 2 * (size_t)half;
        ECDSA_SIG_free(es);
    }
    return QS_OK;
}

/* ---- a small DER reader, to look at the encoding itself ----------------------------------- */

typedef struct der_tlv {
    uint8_t tag;
    const uint8_t *start; /* the tag byte */
    size_t tlv_len;
    const uint8_t *val;
    size_t len;
} der_tlv;

/* Reads the next DER TLV from [*p, end): single-byte tag, definite minimal length. */
static bool der_next(const uint8_t **p, const uint8_t *end, der_tlv *t)
{
    const uint8_t *q = *p;
    if (end - q < 2)
        return false;
    t->start = q;
    t->tag = *q++;
    size_t len = *q++;
    if (len & 0x80) {
        size_t nb = len & 0x7f;
        if (nb == 0 || nb > 3 || (size_t)(end - q) < nb || q[0] == 0)
            return false;
        len = 0;
        for (size_t i = 0; i < nb; i++)
            len = (len << 8) | *q++;
        if (len < 0x80)
            return false;
    }
    if ((size_t)(end - q) < len)
        return false;
    t->val = q;
    t->len = len;
    t->tlv_len = (size_t)(q + len - t->start);
    *p = q + len;
    return true;
}

/* The next TLV must have `tag`. */
static der_tlv der_expect(const uint8_t **p, const uint8_t *end, uint8_t tag)
{
    der_tlv t = {0};
    assert_true(der_next(p, end, &t));
    assert_int_equal(t.tag, tag);
    return t;
}

/* Walks ContentInfo -> SignedData -> the one SignerInfo and returns its [0] signedAttrs TLV;
 * checks on the way that the content is detached, the SignedData and SignerInfo versions are
 * 1, and the SignerInfo ends with its signature (no unsigned attributes). */
static der_tlv find_signed_attrs(const uint8_t *der, size_t len)
{
    const uint8_t *p = der, *end = der + len;
    der_tlv ci = der_expect(&p, end, 0x30);
    assert_true(p == end);
    p = ci.val;
    end = ci.val + ci.len;
    der_expect(&p, end, 0x06);
    der_tlv exp = der_expect(&p, end, 0xa0);
    p = exp.val;
    der_tlv sd = der_expect(&p, exp.val + exp.len, 0x30);
    p = sd.val;
    end = sd.val + sd.len;
    der_tlv ver = der_expect(&p, end, 0x02);
    assert_int_equal(ver.len, 1);
    assert_int_equal(ver.val[0], 1);
    der_expect(&p, end, 0x31); /* digestAlgorithms */
    der_tlv eci = der_expect(&p, end, 0x30);
    const uint8_t *e = eci.val;
    der_tlv ect = der_expect(&e, eci.val + eci.len, 0x06);
    static const uint8_t id_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
    assert_int_equal(ect.len, sizeof id_data);
    assert_memory_equal(ect.val, id_data, sizeof id_data);
    assert_true(e == eci.val + eci.len); /* no eContent: detached */
    der_tlv t = {0};
    assert_true(der_next(&p, end, &t));
    if (t.tag == 0xa0) /* certificates */
        assert_true(der_next(&p, end, &t));
    assert_int_equal(t.tag, 0x31); /* signerInfos */
    assert_true(p == end);
    p = t.val;
    end = t.val + t.len;
    der_tlv si = der_expect(&p, end, 0x30);
    assert_true(p == end); /* one SignerInfo */
    p = si.val;
    end = si.val + si.len;
    ver = der_expect(&p, end, 0x02);
    assert_int_equal(ver.len, 1);
    assert_int_equal(ver.val[0], 1);
    der_expect(&p, end, 0x30); /* issuerAndSerialNumber */
    der_expect(&p, end, 0x30); /* digestAlgorithm */
    der_tlv attrs = der_expect(&p, end, 0xa0);
    der_expect(&p, end, 0x30); /* signatureAlgorithm */
    der_expect(&p, end, 0x04); /* signature */
    assert_true(p == end);
    return attrs;
}

/* SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies OPTIONAL }
 * ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash OCTET STRING,
 *                            issuerSerial IssuerSerial OPTIONAL }
 * IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber INTEGER } */
static void check_signing_cert_v2(const uint8_t *der, size_t len, const pki_cert *c)
{
    const uint8_t *p = der, *end = der + len;
    der_tlv scv2 = der_expect(&p, end, 0x30);
    assert_true(p == end);
    p = scv2.val;
    der_tlv certs = der_expect(&p, scv2.val + scv2.len, 0x30);
    assert_true(p == scv2.val + scv2.len); /* no policies */
    p = certs.val;
    der_tlv id = der_expect(&p, certs.val + certs.len, 0x30);
    assert_true(p == certs.val + certs.len); /* one ESSCertIDv2 */
    p = id.val;
    end = id.val + id.len;
    der_tlv hash = der_expect(&p, end, 0x04); /* first: hashAlgorithm omitted (SHA-256) */
    uint8_t want[QS_SHA256_LEN];
    assert_int_equal(EVP_Digest(c->der, c->der_len, want, NULL, EVP_sha256(), NULL), 1);
    assert_int_equal(hash.len, sizeof want);
    assert_memory_equal(hash.val, want, sizeof want);

    der_tlv is = der_expect(&p, end, 0x30);
    assert_true(p == end);
    p = is.val;
    end = is.val + is.len;
    der_tlv gns = der_expect(&p, end, 0x30);
    der_tlv serial = der_expect(&p, end, 0x02);
    assert_true(p == end);
    const uint8_t *g = gns.val;
    der_tlv dn = der_expect(&g, gns.val + gns.len, 0xa4); /* directoryName [4] EXPLICIT Name */
    assert_true(g == gns.val + gns.len);
    unsigned char *name = NULL;
    int nlen = i2d_X509_NAME(X509_get_issuer_name(c->x), &name);
    assert_true(nlen > 0);
    assert_int_equal(dn.len, (size_t)nlen);
    assert_memory_equal(dn.val, name, (size_t)nlen);
    OPENSSL_free(name);
    unsigned char *sn = NULL;
    int slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(c->x), &sn);
    assert_true(slen > 0);
    assert_int_equal(serial.tlv_len, (size_t)slen);
    assert_memory_equal(serial.start, sn, (size_t)slen);
    OPENSSL_free(sn);
}

/* ---- building and checking ------------------------------------------------------------------ */

static qs_cms_params params_for(signer_kind k, qs_sig_scheme scheme, qs_hash_alg hash,
                                const uint8_t *digest, cb_state *st)
{
    static const uint8_t *chain_der[1];
    static size_t chain_len[1];
    chain_der[0] = inter.der;
    chain_len[0] = inter.der_len;
    st->key = signers[k].key;
    return (qs_cms_params){.cert_der = signers[k].der,
                           .cert_len = signers[k].der_len,
                           .chain_der = chain_der,
                           .chain_len = chain_len,
                           .chain_n = 1,
                           .hash = hash,
                           .document_digest = digest,
                           .document_digest_len = len_of(hash),
                           .signing_time = now,
                           .scheme = scheme,
                           .sign = soft_sign,
                           .sign_cls = st};
}

/* Runs `openssl cms -verify` on p7s + content; its stderr goes to <p7s>.<tag>.txt.  Returns the
 * exit status; a success must also say so. */
static int verify(const char *p7s, const char *content, const char *extra, const char *tag)
{
    int rc = qs_test_system("cd '%s' && openssl cms -verify -binary -inform DER -in %s -content "
                            "%s -CAfile ca.pem -purpose any %s -out /dev/null 2>%s.%s.txt",
                            dir, p7s, content, extra, p7s, tag);
    if (rc == 0)
        assert_int_equal(
            qs_test_system("grep -qxE '(CMS|CAdES) Verification successful' '%s/%s.%s.txt'", dir,
                           p7s, tag),
            0);
    return rc;
}

/* Decodes the .p7s and checks every part the builder is responsible for. */
static void check_cms(const uint8_t *der, size_t der_len, signer_kind k, qs_sig_scheme scheme,
                      qs_hash_alg hash, const uint8_t *doc_digest, int64_t signing_time,
                      const uint8_t *attrs_digest, size_t attrs_digest_len, const cb_state *st)
{
    const pki_cert *c = &signers[k];
    size_t hlen = len_of(hash);
    const unsigned char *q = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)der_len);
    assert_non_null(cms);
    assert_true(q == der + der_len);
    assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_signed);
    assert_int_equal(OBJ_obj2nid(CMS_get0_eContentType(cms)), NID_pkcs7_data);
    assert_int_equal(CMS_is_detached(cms), 1);

    /* certificates: the signer's and the chain's, byte for byte */
    STACK_OF(X509) *certs = CMS_get1_certs(cms);
    assert_int_equal(sk_X509_num(certs), 2);
    bool seen_signer = false, seen_inter = false;
    for (int i = 0; i < 2; i++) {
        unsigned char *cd = NULL;
        int n = i2d_X509(sk_X509_value(certs, i), &cd);
        assert_true(n > 0);
        if ((size_t)n == c->der_len && memcmp(cd, c->der, c->der_len) == 0)
            seen_signer = true;
        if ((size_t)n == inter.der_len && memcmp(cd, inter.der, inter.der_len) == 0)
            seen_inter = true;
        OPENSSL_free(cd);
    }
    assert_true(seen_signer && seen_inter);
    sk_X509_pop_free(certs, X509_free);

    STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
    assert_int_equal(sk_CMS_SignerInfo_num(sis), 1);
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
    ASN1_OCTET_STRING *keyid = NULL;
    X509_NAME *issuer = NULL;
    ASN1_INTEGER *sno = NULL;
    assert_int_equal(CMS_SignerInfo_get0_signer_id(si, &keyid, &issuer, &sno), 1);
    assert_null(keyid);
    assert_int_equal(X509_NAME_cmp(issuer, X509_get_issuer_name(c->x)), 0);
    assert_int_equal(ASN1_INTEGER_cmp(sno, X509_get0_serialNumber(c->x)), 0);

    /* digestAlgorithm and signatureAlgorithm */
    X509_ALGOR *dig = NULL, *sig = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
    const ASN1_OBJECT *obj = NULL;
    int ptype = 0;
    const void *pval = NULL;
    X509_ALGOR_get0(&obj, &ptype, &pval, dig);
    assert_int_equal(OBJ_obj2nid(obj), EVP_MD_get_type(md_of(hash)));
    assert_int_equal(ptype, V_ASN1_UNDEF);
    X509_ALGOR_get0(&obj, &ptype, &pval, sig);
    int sig_nid = OBJ_obj2nid(obj);
    switch (scheme) {
    case QS_SIG_ECDSA: {
        int want[] = {NID_ecdsa_with_SHA256, NID_ecdsa_with_SHA384, NID_ecdsa_with_SHA512};
        assert_int_equal(sig_nid, want[hash - QS_HASH_SHA256]);
        assert_int_equal(ptype, V_ASN1_UNDEF);
        break;
    }
    case QS_SIG_RSA_PKCS1: {
        int want[] = {NID_sha256WithRSAEncryption, NID_sha384WithRSAEncryption,
                      NID_sha512WithRSAEncryption};
        assert_int_equal(sig_nid, want[hash - QS_HASH_SHA256]);
        assert_int_equal(ptype, V_ASN1_NULL);
        break;
    }
    case QS_SIG_RSA_PSS: {
        assert_int_equal(sig_nid, NID_rsassaPss);
        assert_int_equal(ptype, V_ASN1_SEQUENCE);
        const ASN1_STRING *ps = pval;
        const unsigned char *pp = ASN1_STRING_get0_data(ps);
        RSA_PSS_PARAMS *pss = d2i_RSA_PSS_PARAMS(NULL, &pp, ASN1_STRING_length(ps));
        assert_non_null(pss);
        X509_ALGOR_get0(&obj, &ptype, NULL, pss->hashAlgorithm);
        assert_int_equal(OBJ_obj2nid(obj), EVP_MD_get_type(md_of(hash)));
        X509_ALGOR_get0(&obj, &ptype, &pval, pss->maskGenAlgorithm);
        assert_int_equal(OBJ_obj2nid(obj), NID_mgf1);
        assert_int_equal(ptype, V_ASN1_SEQUENCE);
        ps = pval;
        pp = ASN1_STRING_get0_data(ps);
        X509_ALGOR *mgf_md = d2i_X509_ALGOR(NULL, &pp, ASN1_STRING_length(ps));
        assert_non_null(mgf_md);
        X509_ALGOR_get0(&obj, NULL, NULL, mgf_md);
        assert_int_equal(OBJ_obj2nid(obj), EVP_MD_get_type(md_of(hash)));
        X509_ALGOR_free(mgf_md);
        assert_int_equal(ASN1_INTEGER_get(pss->saltLength), (long)hlen);
        assert_null(pss->trailerField);
        RSA_PSS_PARAMS_free(pss);
        break;
    }
    }

    /* signed attributes: exactly the four, one value each */
    assert_int_equal(CMS_signed_get_attr_count(si), 4);
    assert_true(CMS_unsigned_get_attr_count(si) <= 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(X509_ATTRIBUTE_count(CMS_signed_get_attr(si, i)), 1);

    ASN1_OBJECT *ct =
        CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_contentType), -3, V_ASN1_OBJECT);
    assert_non_null(ct);
    assert_int_equal(OBJ_obj2nid(ct), NID_pkcs7_data);

    ASN1_OCTET_STRING *md = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest),
                                                        -3, V_ASN1_OCTET_STRING);
    assert_non_null(md);
    assert_int_equal(ASN1_STRING_length(md), (int)hlen);
    assert_memory_equal(ASN1_STRING_get0_data(md), doc_digest, hlen);

    int loc = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    assert_true(loc >= 0);
    ASN1_TYPE *tt = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, loc), 0);
    assert_non_null(tt);
    /* RFC 5652, 11.3: UTCTime from 1950 through 2049, GeneralizedTime otherwise. */
    assert_int_equal(tt->type,
                     signing_time < INT64_C(2524608000) ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME);
    assert_int_equal(ASN1_TIME_cmp_time_t((ASN1_TIME *)tt->value.asn1_string, (time_t)signing_time),
                     0);

    loc = CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1);
    assert_true(loc >= 0);
    tt = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, loc), 0);
    assert_non_null(tt);
    assert_int_equal(tt->type, V_ASN1_SEQUENCE);
    check_signing_cert_v2(ASN1_STRING_get0_data(tt->value.sequence),
                          (size_t)ASN1_STRING_length(tt->value.sequence), c);

    /* The signed-attributes digest, from the encoding itself: the [0] IMPLICIT field with its
     * tag turned into SET OF (RFC 5652, 5.4). */
    der_tlv attrs = find_signed_attrs(der, der_len);
    /* DER order of a SET OF: ascending encodings, the shorter one padded with zeros (X.690,
     * 11.6); four attributes */
    const uint8_t *a = attrs.val;
    der_tlv prev = {0}, cur = {0};
    int n_attrs = 0;
    while (a < attrs.val + attrs.len) {
        assert_true(der_next(&a, attrs.val + attrs.len, &cur));
        assert_int_equal(cur.tag, 0x30);
        if (n_attrs++ > 0) {
            size_t m = prev.tlv_len < cur.tlv_len ? prev.tlv_len : cur.tlv_len;
            int cmp = memcmp(prev.start, cur.start, m);
            assert_true(cmp < 0 || (cmp == 0 && prev.tlv_len <= cur.tlv_len));
        }
        prev = cur;
    }
    assert_int_equal(n_attrs, 4);
    uint8_t *set = malloc(attrs.tlv_len);
    assert_non_null(set);
    memcpy(set, attrs.start, attrs.tlv_len);
    set[0] = 0x31;
    uint8_t want[QS_HASH_MAX_LEN];
    assert_int_equal(EVP_Digest(set, attrs.tlv_len, want, NULL, md_of(hash), NULL), 1);
    free(set);
    assert_int_equal(attrs_digest_len, hlen);
    assert_memory_equal(attrs_digest, want, hlen);
    assert_int_equal(st->digest_len, hlen);
    assert_memory_equal(st->digest, want, hlen);
    assert_int_equal(st->scheme, scheme);
    assert_int_equal(st->hash, hash);

    /* OpenSSL's own check of the signature over its own encoding of the attributes */
    CMS_SignerInfo_set1_signer_cert(si, c->x);
    assert_int_equal(CMS_SignerInfo_verify(si), 1);

    CMS_ContentInfo_free(cms);
}

typedef struct combo {
    signer_kind kind;
    qs_sig_scheme scheme;
} combo;

static const combo combos[] = {
    {SIGNER_P256, QS_SIG_ECDSA},
    {SIGNER_P384, QS_SIG_ECDSA},
    {SIGNER_RSA, QS_SIG_RSA_PKCS1},
    {SIGNER_RSA, QS_SIG_RSA_PSS},
};
static const qs_hash_alg hashes[] = {QS_HASH_SHA256, QS_HASH_SHA384, QS_HASH_SHA512};

static void build_and_check(signer_kind k, qs_sig_scheme scheme, qs_hash_alg hash,
                            int64_t signing_time, const char *name)
{
    uint8_t doc_digest[QS_HASH_MAX_LEN];
    assert_int_equal(EVP_Digest(doc, sizeof doc, doc_digest, NULL, md_of(hash), NULL), 1);
    cb_state st = {0};
    qs_cms_params p = params_for(k, scheme, hash, doc_digest, &st);
    p.signing_time = signing_time;
    uint8_t *der = NULL;
    size_t der_len = 0, ad_len = 0;
    uint8_t ad[QS_HASH_MAX_LEN];
    assert_int_equal(qs_cms_build_cades_bb(&p, &der, &der_len, ad, &ad_len), QS_OK);
    assert_non_null(der);
    assert_int_equal(st.calls, 1);
    write_file(name, der, der_len);

    assert_int_equal(verify(name, "doc", "", "ok"), 0);
    assert_int_equal(verify(name, "doc", "-cades", "cades"), 0);
    assert_int_not_equal(verify(name, "doc-changed", "", "changed"), 0);
    check_cms(der, der_len, k, scheme, hash, doc_digest, signing_time, ad, ad_len, &st);
    free(der);
}

static void test_all_keys_schemes_hashes(void **state)
{
    for (size_t i = 0; i < sizeof combos / sizeof combos[0]; i++) {
        for (size_t j = 0; j < sizeof hashes / sizeof hashes[0]; j++) {
            char name[64];
            snprintf(name, sizeof name, "sig-%d-%d-%d.p7s", (int)combos[i].kind,
                     (int)combos[i].scheme, (int)hashes[j]);
            build_and_check(combos[i].kind, combos[i].scheme, hashes[j], now, name);
        }
    }
}

/* After 2049 signingTime is a GeneralizedTime; 1970 is the earliest accepted. */
static void test_signing_time_range(void **state)
{
    build_and_check(SIGNER_P256, QS_SIG_ECDSA, QS_HASH_SHA256, INT64_C(2524608000), "t2050.p7s");
    build_and_check(SIGNER_RSA, QS_SIG_RSA_PSS, QS_HASH_SHA256, 0, "t1970.p7s");
}

/* Without a chain the certificates field holds the signer's certificate only, and verifying
 * needs the issuing CA from elsewhere. */
static void test_no_chain(void **state)
{
    uint8_t doc_digest[QS_SHA256_LEN];
    assert_int_equal(EVP_Digest(doc, sizeof doc, doc_digest, NULL, EVP_sha256(), NULL), 1);
    cb_state st = {0};
    qs_cms_params p = params_for(SIGNER_P384, QS_SIG_ECDSA, QS_HASH_SHA256, doc_digest, &st);
    p.chain_der = NULL;
    p.chain_len = NULL;
    p.chain_n = 0;
    uint8_t *der = NULL;
    size_t der_len = 0, ad_len = 0;
    uint8_t ad[QS_HASH_MAX_LEN];
    assert_int_equal(qs_cms_build_cades_bb(&p, &der, &der_len, ad, &ad_len), QS_OK);
    const unsigned char *q = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)der_len);
    assert_non_null(cms);
    STACK_OF(X509) *certs = CMS_get1_certs(cms);
    assert_int_equal(sk_X509_num(certs), 1);
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    write_file("nochain.p7s", der, der_len);
    free(der);
    assert_int_not_equal(verify("nochain.p7s", "doc", "", "ok"), 0);
}

/* ---- refusals ---------------------------------------------------------------------------------
 */

/* Runs the builder expecting `want`, and checks nothing came out. */
static void expect_refusal(const qs_cms_params *p, qs_err want)
{
    uint8_t junk;
    uint8_t *der = &junk;
    size_t der_len = 99, ad_len = 99;
    uint8_t ad[QS_HASH_MAX_LEN];
    memset(ad, 0xa5, sizeof ad);
    assert_int_equal(qs_cms_build_cades_bb(p, &der, &der_len, ad, &ad_len), want);
    assert_null(der);
    assert_int_equal(der_len, 0);
    assert_int_equal(ad_len, 0);
    uint8_t zero[QS_HASH_MAX_LEN] = {0};
    assert_memory_equal(ad, zero, sizeof ad);
}

static void test_bad_digest_and_algorithms(void **state)
{
    uint8_t digest[QS_HASH_MAX_LEN] = {1, 2, 3};
    cb_state st = {0};
    qs_cms_params p;

    p = params_for(SIGNER_P256, QS_SIG_ECDSA, QS_HASH_SHA256, digest, &st);
    p.document_digest_len = QS_SHA256_LEN - 1;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p.document_digest_len = QS_SHA384_LEN; /* a SHA-384 digest announced as SHA-256 */
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p = params_for(SIGNER_P256, QS_SIG_ECDSA, QS_HASH_SHA512, digest, &st);
    p.document_digest_len = QS_SHA256_LEN;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p = params_for(SIGNER_P256, QS_SIG_ECDSA, QS_HASH_SHA256, NULL, &st);
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);

    p = params_for(SIGNER_P256, QS_SIG_ECDSA, QS_HASH_SHA256, digest, &st);
    p.hash = (qs_hash_alg)0;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p.hash = (qs_hash_alg)4;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);

    /* schemes that do not fit the key, and no scheme at all */
    p = params_for(SIGNER_P256, QS_SIG_RSA_PKCS1, QS_HASH_SHA256, digest, &st);
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p = params_for(SIGNER_P384, QS_SIG_RSA_PSS, QS_HASH_SHA256, digest, &st);
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p = params_for(SIGNER_RSA, QS_SIG_ECDSA, QS_HASH_SHA256, digest, &st);
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p = params_for(SIGNER_RSA, (qs_sig_scheme)0, QS_HASH_SHA256, digest, &st);
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p = params_for(SIGNER_RSA, (qs_sig_scheme)99, QS_HASH_SHA256, digest, &st);
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);

    /* signing time, callback, NULL arguments */
    p = params_for(SIGNER_P256, QS_SIG_ECDSA, QS_HASH_SHA256, digest, &st);
    p.signing_time = -1;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p.signing_time = QS_CMS_TIME_MAX + 1;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p.signing_time = now;
    p.sign = NULL;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    expect_refusal(NULL, QS_ERR_INVALID_ARGUMENT);
    p = params_for(SIGNER_P256, QS_SIG_ECDSA, QS_HASH_SHA256, digest, &st);
    uint8_t *der = NULL;
    size_t der_len = 0;
    uint8_t ad[QS_HASH_MAX_LEN];
    assert_int_equal(qs_cms_build_cades_bb(&p, NULL, &der_len, ad, &der_len),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_cms_build_cades_bb(&p, &der, NULL, ad, &der_len), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_cms_build_cades_bb(&p, &der, &der_len, ad, NULL), QS_ERR_INVALID_ARGUMENT);
    assert_null(der);

    assert_int_equal(st.calls, 0); /* nothing reached the signer */
}

static void test_bad_certificates(void **state)
{
    uint8_t digest[QS_SHA256_LEN] = {0};
    cb_state st = {0};
    qs_cms_params p = params_for(SIGNER_P256, QS_SIG_ECDSA, QS_HASH_SHA256, digest, &st);
    const pki_cert *c = &signers[SIGNER_P256];

    uint8_t garbage[600];
    assert_int_equal(RAND_bytes(garbage, sizeof garbage), 1);
    garbage[0] = 0x30; /* looks like a SEQUENCE, is not a certificate */
    p.cert_der = garbage;
    p.cert_len = sizeof garbage;
    expect_refusal(&p, QS_ERR_PARSE);

    p.cert_der = c->der;
    p.cert_len = c->der_len - 1; /* truncated */
    expect_refusal(&p, QS_ERR_PARSE);

    uint8_t *longer = malloc(c->der_len + 1); /* one byte after the certificate */
    assert_non_null(longer);
    memcpy(longer, c->der, c->der_len);
    longer[c->der_len] = 0;
    p.cert_der = longer;
    p.cert_len = c->der_len + 1;
    expect_refusal(&p, QS_ERR_PARSE);

    /* BER, not DER: the outer length in long form with a leading zero byte */
    assert_int_equal(c->der[0], 0x30);
    assert_int_equal(c->der[1], 0x82);
    uint8_t *ber = malloc(c->der_len + 1);
    assert_non_null(ber);
    ber[0] = 0x30;
    ber[1] = 0x83;
    ber[2] = 0x00;
    memcpy(ber + 3, c->der + 2, c->der_len - 2);
    p.cert_der = ber;
    p.cert_len = c->der_len + 1;
    expect_refusal(&p, QS_ERR_PARSE);

    p.cert_der = (const uint8_t *)"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    p.cert_len = strlen((const char *)p.cert_der);
    expect_refusal(&p, QS_ERR_PARSE);

    p.cert_der = c->der;
    p.cert_len = 0;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p.cert_der = NULL;
    p.cert_len = c->der_len;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p.cert_der = c->der;
    p.cert_len = QS_CMS_CERT_MAX + 1;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p.cert_len = c->der_len;

    /* the chain */
    const uint8_t *bad_chain[2] = {inter.der, garbage};
    size_t bad_len[2] = {inter.der_len, sizeof garbage};
    p.chain_der = bad_chain;
    p.chain_len = bad_len;
    p.chain_n = 2;
    expect_refusal(&p, QS_ERR_PARSE);
    bad_chain[1] = inter.der; /* repeated */
    bad_len[1] = inter.der_len;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    bad_chain[1] = c->der; /* the signer again */
    bad_len[1] = c->der_len;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p.chain_n = QS_CMS_CHAIN_MAX + 1;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);
    p.chain_n = 1;
    p.chain_der = NULL;
    expect_refusal(&p, QS_ERR_INVALID_ARGUMENT);

    free(ber);
    free(longer);
    assert_int_equal(st.calls, 0);
}

/* Whatever the callback does wrong, no SignedData comes out. */
static void test_bad_callback(void **state)
{
    uint8_t digest[QS_SHA384_LEN] = {0};
    cb_state st = {0};
    qs_cms_params p;

    p = params_for(SIGNER_P384, QS_SIG_ECDSA, QS_HASH_SHA384, digest, &st);
    st.mode = CB_FAIL;
    expect_refusal(&p, QS_ERR_HSM); /* passed back unchanged */
    assert_int_equal(st.calls, 1);

    st.mode = CB_WRONG_KEY;
    st.other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(st.other);
    expect_refusal(&p, QS_ERR_CRYPTO);
    EVP_PKEY_free(st.other);

    st.mode = CB_TOO_LONG;
    expect_refusal(&p, QS_ERR_CRYPTO);
    st.mode = CB_RAW_ECDSA;
    expect_refusal(&p, QS_ERR_CRYPTO);
    st.mode = CB_FLIPPED;
    expect_refusal(&p, QS_ERR_CRYPTO);

    /* RSA: a signature with the other padding than the one announced, and a flipped bit */
    p = params_for(SIGNER_RSA, QS_SIG_RSA_PSS, QS_HASH_SHA384, digest, &st);
    st.mode = CB_OTHER_SCHEME;
    expect_refusal(&p, QS_ERR_CRYPTO);
    p.scheme = QS_SIG_RSA_PKCS1;
    expect_refusal(&p, QS_ERR_CRYPTO);
    st.mode = CB_FLIPPED;
    expect_refusal(&p, QS_ERR_CRYPTO);
    st.mode = CB_OK;
    uint8_t *der = NULL;
    size_t der_len = 0, ad_len = 0;
    uint8_t ad[QS_HASH_MAX_LEN];
    assert_int_equal(qs_cms_build_cades_bb(&p, &der, &der_len, ad, &ad_len), QS_OK);
    free(der);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_keys_schemes_hashes),
        cmocka_unit_test(test_signing_time_range),
        cmocka_unit_test(test_no_chain),
        cmocka_unit_test(test_bad_digest_and_algorithms),
        cmocka_unit_test(test_bad_certificates),
        cmocka_unit_test(test_bad_callback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
