"""COS's rules on those structures: hosts, policies, signatures, credentials, times, which values are secret.

Imports only `wire`.
"""
