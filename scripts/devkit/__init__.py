"""Code the tests, the demo and the benchmarks share: signed forms, fuzzers, benchmarks. Never shipped."""
