# sam/: the SAM wire codec and its stream framing.
qs_add_test(NAME test_proto SOURCES unit/test_proto.c LIBS qsign_samproto LABELS unit)
qs_add_fuzzer(NAME sam_proto SOURCES fuzz/fuzz_sam_proto.c LIBS qsign_samproto)
