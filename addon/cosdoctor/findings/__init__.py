"""Findings: the catalogue, the checks on a request, the reading of COS's answer, CORS, policy origins,
and the one `diagnose` pipeline. Imports only `wire` and `cos`.
"""
