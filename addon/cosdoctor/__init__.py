"""Sans-I/O core of the COS POST doctor: multipart, policy, signatures, error XML, catalogue, checks.

Nothing in this package imports mitmproxy, so the emulator, scripts and tests reuse it directly.
"""
