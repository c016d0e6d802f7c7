from __future__ import annotations

import os
import re
import sys

import pytest

from cosdoctor.cos.credentials import (
    Credential,
    CredentialsError,
    CredentialStore,
    load_credentials,
)

# D-SIGN's published test key pair, plus a made-up temporary key.
SID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SKEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
SID2 = "AKIDtmpTmpTmpTmpTmpTmpTmpTmpTmp0001"
SKEY2 = "tmpSecretKeyValue000000000000000X"
TOKEN = "tokenValue+With/Base64Chars==" * 4

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def write(tmp_path, text: str | bytes, mode: int = 0o600, name: str = "cos_credentials") -> str:
    p = tmp_path / name
    if isinstance(text, str):
        text = text.encode()
    p.write_bytes(text)
    os.chmod(p, mode)
    return str(p)


def test_valid_default(tmp_path) -> None:
    path = write(tmp_path, f"{SID} {SKEY}\n")
    store = load_credentials(path, {})
    assert store.get(SID) == Credential(SID, SKEY, None, f"file:{path}:1")
    assert store.warnings == ()
    assert store.secrets() == (SKEY,)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(f"{SID} {SKEY}", {SID: (SKEY, None, 1)}, id="no-trailing-newline"),
        pytest.param(f"# keys for prod\n\n   \n{SID}\t{SKEY}\n", {SID: (SKEY, None, 4)}, id="comments-blank-tab"),
        pytest.param(f"  {SID}   {SKEY}  \r\n", {SID: (SKEY, None, 1)}, id="spaces-crlf"),
        pytest.param(f"{SID} {SKEY} # old account\n", {SID: (SKEY, None, 1)}, id="trailing-comment"),
        pytest.param(f"\ufeff{SID} {SKEY}\n", {SID: (SKEY, None, 1)}, id="utf8-bom"),
        pytest.param(f"{SID} {SKEY}\n{SID2} {SKEY2} {TOKEN}\n",
                     {SID: (SKEY, None, 1), SID2: (SKEY2, TOKEN, 2)}, id="two-with-token"),
        pytest.param("# only comments\n", {}, id="empty"),
        pytest.param(f"AKID_with-dash_1 {SKEY}\n", {"AKID_with-dash_1": (SKEY, None, 1)}, id="id-charset"),
    ],
)
def test_file_formats(tmp_path, text: str, expected: dict) -> None:
    path = write(tmp_path, text)
    store = load_credentials(path, {})
    assert {k: (c.secret_key, c.token, int(c.source.rsplit(":", 1)[1])) for k, c in store.by_id.items()} == expected
    assert all(c.source.startswith(f"file:{path}:") for c in store.by_id.values())


def test_empty_file_warns(tmp_path) -> None:
    path = write(tmp_path, "\n# nothing\n")
    assert load_credentials(path, {}).warnings == (f"credentials file {path} holds no credentials",)


@pytest.mark.parametrize(
    "line, error",
    [
        (f"{SKEY}", r"line 2: expected 'SecretId SecretKey \[Token\]', found 1 field$"),
        (f"{SID} {SKEY} {TOKEN} extra{SKEY}", r"line 2: expected 'SecretId SecretKey \[Token\]', found 4 fields$"),
        (f"SecretId={SID}, SecretKey={SKEY}", r"line 2: SecretId contains characters outside \[A-Za-z0-9_-\]$"),
        (f"{SID}:{SKEY} x", r"line 2: SecretId contains characters outside"),
        (f"{SKEY} {SID}", r"line 2: the SecretKey looks like a SecretId \(starts with AKID\)"),
        (f"{SID} {SKEY}\u2019", r"line 2: SecretKey contains characters that are not printable ASCII$"),
        (f"{SID} {SKEY} {TOKEN}\u00e9", r"line 2: Token contains characters that are not printable ASCII$"),
    ],
)
def test_bad_lines(tmp_path, line: str, error: str) -> None:
    path = write(tmp_path, f"# header\n{line}\n{SID2} {SKEY2}\n")
    with pytest.raises(CredentialsError) as exc:
        load_credentials(path, {})
    msg = str(exc.value)
    assert msg.startswith(f"cos_credentials {path} line 2: ")
    assert re.search(error, msg), msg
    assert "\n" not in msg
    for secret in (SKEY, TOKEN, SKEY2):
        assert secret not in msg
        assert secret not in repr(exc.value)


def test_invalid_utf8_names_the_line(tmp_path) -> None:
    path = write(tmp_path, f"{SID} {SKEY}\n{SID2} ".encode() + b"\xff\xfe" + SKEY2.encode() + b"\n")
    with pytest.raises(CredentialsError, match=rf"^cos_credentials {re.escape(path)} line 2: not valid UTF-8$") as exc:
        load_credentials(path, {})
    assert SKEY not in str(exc.value) and SKEY2 not in str(exc.value)


@pytest.mark.parametrize(
    "make, error",
    [
        pytest.param(lambda d: str(d / "missing"), r": no such file$", id="missing"),
        pytest.param(lambda d: str(d), r": is a directory, not a file$", id="directory"),
        pytest.param(lambda d: write(d, "x" * (2 << 20)), r": larger than \d+ bytes", id="too-large"),
    ],
)
def test_unusable_files(tmp_path, make, error: str) -> None:
    path = make(tmp_path)
    with pytest.raises(CredentialsError, match=rf"^cos_credentials {re.escape(path)}{error}"):
        load_credentials(path, {})


@posix_only
def test_fifo_is_refused_without_hanging(tmp_path) -> None:
    path = str(tmp_path / "fifo")
    os.mkfifo(path)
    with pytest.raises(CredentialsError, match=r": not a regular file$"):
        load_credentials(path, {})


@pytest.mark.parametrize(
    "exc, error",
    [
        (PermissionError(13, "Permission denied"), r": permission denied$"),
        (IsADirectoryError(21, "Is a directory"), r": is a directory, not a file$"),
        (OSError(40, "Too many levels of symbolic links"), r": cannot open \(Too many levels of symbolic links\)$"),
    ],
)
def test_open_errors(tmp_path, monkeypatch, exc: OSError, error: str) -> None:
    # Simulated, because the test may run as root (who can read a mode-000 file).
    path = write(tmp_path, f"{SID} {SKEY}\n")

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(os, "open", fail)
    with pytest.raises(CredentialsError, match=rf"^cos_credentials {re.escape(path)}{error}"):
        load_credentials(path, {})


def test_expanduser(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path, f"{SID} {SKEY}\n")
    store = load_credentials("~/cos_credentials", {})
    assert store.get(SID) is not None
    assert store.get(SID).source == "file:~/cos_credentials:1"


@posix_only
@pytest.mark.parametrize(
    "mode, warning",
    [
        (0o600, None),
        (0o400, None),
        (0o644, "readable by other users (mode 0644)"),
        (0o640, "readable by other users (mode 0640)"),
        (0o604, "readable by other users (mode 0604)"),
        (0o620, "accessible by other users (mode 0620)"),
        (0o601, "accessible by other users (mode 0601)"),
    ],
)
def test_permission_warning(tmp_path, mode: int, warning: str | None) -> None:
    path = write(tmp_path, f"{SID} {SKEY}\n", mode=mode)
    store = load_credentials(path, {})
    if warning is None:
        assert store.warnings == ()
    else:
        assert store.warnings == (f"credentials file {path} is {warning}; chmod 600 it",)


def test_duplicate_id_keeps_first_and_warns(tmp_path) -> None:
    path = write(tmp_path, f"{SID} {SKEY}\n{SID} {SKEY2}\n{SID} {SKEY}\n")
    store = load_credentials(path, {})
    assert store.get(SID).secret_key == SKEY
    assert store.get(SID).source == f"file:{path}:1"
    assert store.warnings == (
        f"cos_credentials {path} line 2: SecretId {SID} is already defined (line 1) "
        f"with a different key or token; the first one is kept",
    )
    assert all(SKEY not in w and SKEY2 not in w for w in store.warnings)


# --- environment ---------------------------------------------------------------------------------

ENV = {"COS_SECRET_ID": SID, "COS_SECRET_KEY": SKEY}


@pytest.mark.parametrize(
    "delta, expected",
    [
        ({}, Credential(SID, SKEY, None, "env")),
        ({"COS_SECURITY_TOKEN": TOKEN}, Credential(SID, SKEY, TOKEN, "env")),
        ({"COS_SECRET_ID": f" {SID}\n"}, Credential(SID, SKEY, None, "env")),
        ({"COS_SECURITY_TOKEN": ""}, Credential(SID, SKEY, None, "env")),
        ({"COS_SECRET_ID": "", "COS_SECRET_KEY": ""}, None),
    ],
)
def test_environment(delta: dict, expected: Credential | None) -> None:
    store = load_credentials(None, {**ENV, **delta})
    assert store.get(SID) == expected
    assert store.warnings == ()


@pytest.mark.parametrize(
    "environ, error",
    [
        ({"COS_SECRET_ID": SID}, r"^COS_SECRET_ID is set but COS_SECRET_KEY is not$"),
        ({"COS_SECRET_KEY": SKEY}, r"^COS_SECRET_KEY is set but COS_SECRET_ID is not$"),
        ({"COS_SECRET_KEY": SKEY, "COS_SECURITY_TOKEN": TOKEN}, r"^COS_SECRET_KEY is set but COS_SECRET_ID is not$"),
        ({"COS_SECURITY_TOKEN": TOKEN}, r"^COS_SECURITY_TOKEN is set but COS_SECRET_ID and COS_SECRET_KEY are not$"),
        ({"COS_SECRET_ID": f"{SID}!{SKEY}", "COS_SECRET_KEY": SKEY},
         r"^environment: SecretId contains characters outside"),
    ],
)
def test_environment_errors(environ: dict, error: str) -> None:
    with pytest.raises(CredentialsError, match=error) as exc:
        load_credentials("", environ)
    assert SKEY not in str(exc.value) and TOKEN not in str(exc.value)


def test_no_sources() -> None:
    store = load_credentials(None, {})
    assert dict(store.by_id) == {} and store.warnings == () and store.secrets() == ()


def test_file_and_environment(tmp_path) -> None:
    path = write(tmp_path, f"{SID} {SKEY}\n")
    store = load_credentials(path, {"COS_SECRET_ID": SID2, "COS_SECRET_KEY": SKEY2, "COS_SECURITY_TOKEN": TOKEN})
    assert store.get(SID).source == f"file:{path}:1"
    assert store.get(SID2) == Credential(SID2, SKEY2, TOKEN, "env")
    assert set(store.secrets()) == {SKEY, SKEY2, TOKEN}


def test_environment_conflicting_with_file_warns(tmp_path) -> None:
    path = write(tmp_path, f"{SID} {SKEY}\n")
    store = load_credentials(path, {"COS_SECRET_ID": SID, "COS_SECRET_KEY": SKEY2})
    assert store.get(SID).secret_key == SKEY
    assert store.warnings == (
        f"environment: SecretId {SID} is already defined (line 1) with a different key or token; "
        f"the first one is kept",
    )


# --- store behaviour and secrecy -----------------------------------------------------------------

@pytest.mark.parametrize("query, found", [(SID, True), (SID.lower(), False), ("", False), (None, False)])
def test_get(tmp_path, query: str | None, found: bool) -> None:
    store = load_credentials(write(tmp_path, f"{SID} {SKEY}\n"), {})
    assert (store.get(query) is not None) is found


def test_store_is_read_only(tmp_path) -> None:
    store = load_credentials(write(tmp_path, f"{SID} {SKEY}\n"), {})
    with pytest.raises(TypeError):
        store.by_id["AKIDnew"] = Credential("AKIDnew", "k")  # type: ignore[index]


def test_secrets_never_in_repr_or_str(tmp_path) -> None:
    path = write(tmp_path, f"{SID} {SKEY}\n{SID2} {SKEY2} {TOKEN}\n")
    store = load_credentials(path, {})
    texts = [repr(store), str(store), f"{store}", f"{store!r}", repr(store.by_id)]
    for cred in store.by_id.values():
        texts += [repr(cred), str(cred), f"{cred}"]
    for text in texts:
        assert SID in text or SID2 in text  # the id is shown, it is not a secret
        for secret in (SKEY, SKEY2, TOKEN):
            assert secret not in text


def test_credential_repr_hides_key() -> None:
    assert repr(Credential(SID, SKEY, TOKEN, "env")) == f"Credential(secret_id='{SID}', source='env')"


def test_credentials_error_is_value_error() -> None:
    assert issubclass(CredentialsError, ValueError)


def test_store_built_directly() -> None:
    store = CredentialStore({SID: Credential(SID, SKEY), SID2: Credential(SID2, SKEY2, TOKEN)}, ())
    assert store.get(SID2).token == TOKEN
    assert store.secrets() == (SKEY, SKEY2, TOKEN)
