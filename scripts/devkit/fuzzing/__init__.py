"""The fuzzer behind scripts/fuzz.py and tests/unit/tools/test_fuzz.py: one module per target group
(multipart, policy, auth, xml, pipeline, xmlapi, uploadxml, sessions), each with its invariants (`check_*`), builders and seeded
generator (`gen_*`); `runner` runs, minimises and replays; `scale` probes for super-linear time."""
