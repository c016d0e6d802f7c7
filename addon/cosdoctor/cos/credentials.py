"""The ``cos_credentials`` file and the COS_* environment variables: SecretId -> SecretKey.

The keys are only used to verify and explain signatures. Nothing here ever formats a SecretKey or
a token into a string: reprs hide them, and error messages name the file and line instead of
quoting the offending text (a bad line may well be a key pasted in the wrong place).
"""

from __future__ import annotations

import os
import re
import stat
import types
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "Credential",
    "CredentialsError",
    "CredentialStore",
    "load_credentials",
    "ENV_SECRET_ID",
    "ENV_SECRET_KEY",
    "ENV_SECURITY_TOKEN",
    "MAX_FILE_BYTES",
]

ENV_SECRET_ID = "COS_SECRET_ID"
ENV_SECRET_KEY = "COS_SECRET_KEY"
ENV_SECURITY_TOKEN = "COS_SECURITY_TOKEN"
MAX_FILE_BYTES = 1 << 20  # far above any real key file; protects against pointing at a log or a disk image

_SECRET_ID = re.compile(r"[A-Za-z0-9_-]+\Z")
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+\Z")
_FORMAT = "expected 'SecretId SecretKey [Token]'"


@dataclass(frozen=True, slots=True)
class Credential:
    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    source: str = ""  # "file:/path:LINE" or "env"


class CredentialsError(ValueError):
    """A credentials source is unusable. The message names the file and line, never a secret."""


@dataclass(frozen=True, slots=True)
class CredentialStore:
    by_id: Mapping[str, Credential]
    warnings: tuple[str, ...] = ()

    def get(self, secret_id: str | None) -> Credential | None:
        """The credential for a q-ak (case-sensitive, as COS compares it)."""
        if not isinstance(secret_id, str):
            return None
        return self.by_id.get(secret_id)

    def secrets(self) -> tuple[str, ...]:
        """Every SecretKey and token, for ``redact.scrub``."""
        out: list[str] = []
        for cred in self.by_id.values():
            out.append(cred.secret_key)
            if cred.token:
                out.append(cred.token)
        return tuple(out)


def _check_values(where: str, secret_id: str, secret_key: str, token: str | None) -> None:
    if not _SECRET_ID.match(secret_id):
        raise CredentialsError(f"{where}: SecretId contains characters outside [A-Za-z0-9_-]")
    if not secret_id.startswith("AKID") and secret_key.startswith("AKID"):
        raise CredentialsError(
            f"{where}: the SecretKey looks like a SecretId (starts with AKID); "
            f"the order is 'SecretId SecretKey [Token]'")
    if not _PRINTABLE_ASCII.match(secret_key):
        raise CredentialsError(f"{where}: SecretKey contains characters that are not printable ASCII")
    if token is not None and not _PRINTABLE_ASCII.match(token):
        raise CredentialsError(f"{where}: Token contains characters that are not printable ASCII")


def _read_file(path: str) -> tuple[bytes, int]:
    """The file's bytes and mode; one-line CredentialsError for every way it can be unusable."""
    real = os.path.expanduser(path)
    try:
        # O_NONBLOCK: a FIFO given by mistake must not hang start-up.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise CredentialsError(f"cos_credentials {path}: no such file") from None
    except IsADirectoryError:
        raise CredentialsError(f"cos_credentials {path}: is a directory, not a file") from None
    except PermissionError:
        raise CredentialsError(f"cos_credentials {path}: permission denied") from None
    except OSError as e:
        raise CredentialsError(f"cos_credentials {path}: cannot open ({e.strerror or type(e).__name__})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise CredentialsError(f"cos_credentials {path}: is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise CredentialsError(f"cos_credentials {path}: not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise CredentialsError(
                f"cos_credentials {path}: larger than {MAX_FILE_BYTES} bytes; is this the right file?")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except CredentialsError:
        raise
    except OSError as e:
        raise CredentialsError(f"cos_credentials {path}: cannot read ({e.strerror or type(e).__name__})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise CredentialsError(
            f"cos_credentials {path}: larger than {MAX_FILE_BYTES} bytes; is this the right file?")
    return data, stat.S_IMODE(st.st_mode)


def _parse_file(path: str, data: bytes) -> list[tuple[int, Credential]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CredentialsError(f"cos_credentials {path} line {line}: not valid UTF-8") from None
    entries: list[tuple[int, Credential]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        for i, f in enumerate(fields):  # '#' starts a comment, also after the values
            if f.startswith("#"):
                del fields[i:]
                break
        if not fields:
            continue
        where = f"cos_credentials {path} line {lineno}"
        n = len(fields)
        if n < 2 or n > 3:
            raise CredentialsError(f"{where}: {_FORMAT}, found {n} field{'s' if n != 1 else ''}")
        secret_id, secret_key = fields[0], fields[1]
        token = fields[2] if n == 3 else None
        _check_values(where, secret_id, secret_key, token)
        entries.append((lineno, Credential(secret_id, secret_key, token, f"file:{path}:{lineno}")))
    return entries


def _from_env(environ: Mapping[str, str]) -> Credential | None:
    def get(name: str) -> str | None:
        v = environ.get(name)
        v = v.strip() if isinstance(v, str) else None
        return v or None

    secret_id, secret_key, token = get(ENV_SECRET_ID), get(ENV_SECRET_KEY), get(ENV_SECURITY_TOKEN)
    if secret_id is None and secret_key is None:
        if token is not None:
            raise CredentialsError(
                f"{ENV_SECURITY_TOKEN} is set but {ENV_SECRET_ID} and {ENV_SECRET_KEY} are not")
        return None
    if secret_key is None:
        raise CredentialsError(f"{ENV_SECRET_ID} is set but {ENV_SECRET_KEY} is not")
    if secret_id is None:
        raise CredentialsError(f"{ENV_SECRET_KEY} is set but {ENV_SECRET_ID} is not")
    _check_values("environment", secret_id, secret_key, token)
    return Credential(secret_id, secret_key, token, "env")


def load_credentials(path: str | None, environ: Mapping[str, str]) -> CredentialStore:
    """Read the credentials file (if ``path``) and the environment; raise CredentialsError if unusable.

    File entries come first, in file order, then the environment. A SecretId seen twice keeps its
    first credential; a conflicting later one gives a warning.
    """
    warnings: list[str] = []
    entries: list[tuple[str, Credential]] = []
    if path:
        data, mode = _read_file(path)
        if mode & 0o077:
            what = "readable" if mode & 0o044 else "accessible"
            warnings.append(
                f"credentials file {path} is {what} by other users (mode {mode:04o}); chmod 600 it")
        parsed = _parse_file(path, data)
        if not parsed:
            warnings.append(f"credentials file {path} holds no credentials")
        entries.extend((f"line {n}", c) for n, c in parsed)
    env = _from_env(environ if environ is not None else {})
    if env is not None:
        entries.append((f"${ENV_SECRET_ID}", env))

    by_id: dict[str, Credential] = {}
    origin: dict[str, str] = {}
    for where, cred in entries:
        first = by_id.get(cred.secret_id)
        if first is None:
            by_id[cred.secret_id] = cred
            origin[cred.secret_id] = where
        elif (first.secret_key, first.token) != (cred.secret_key, cred.token):
            prefix = f"cos_credentials {path} {where}" if cred.source != "env" else "environment"
            warnings.append(
                f"{prefix}: SecretId {cred.secret_id} is already defined ({origin[cred.secret_id]}) "
                f"with a different key or token; the first one is kept")
    return CredentialStore(types.MappingProxyType(by_id), tuple(warnings))
