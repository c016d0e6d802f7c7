"""The benchmarks behind scripts/bench.py, one module per section: parsers, e2e (with the hooks timed
inside mitmdump), memory, hooks (in-process), linear; `measure` and `bodies` are what they share,
`proxies` starts the processes they compare, `report` turns figures into the table and verdicts."""
