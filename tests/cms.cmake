# cms/: CAdES-B-B detached signatures, checked with the openssl command-line tool.
qs_add_test(NAME test_cms_cades SOURCES integration/test_cms_cades.c
    LIBS qsign_cms OpenSSL::Crypto LABELS cms integration)
