"""Sans-I/O core of the COS upload doctor, in stages: wire -> cos -> findings -> render.

Nothing in this package imports mitmproxy, so the emulator, scripts and tests reuse it directly.
"""
