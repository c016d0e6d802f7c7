from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosdoctor.cos.secrets import (
    REDACTED,
    SENSITIVE_FIELDS,
    redact_auth_string,
    redact_field,
    scrub,
    shorten,
)

SIG = "2ffd2ae714e7445a8da000ec5d51771ff5056500"
SIG_SHORT = "2ffd\u20266500"
AK = "AKIDZfbOAo7cllgPvF9cXFrJD0a1ICvR98JM"
AUTH = (f"q-sign-algorithm=sha1&q-ak={AK}&q-sign-time=1512983814;1512984814"
        f"&q-key-time=1512983814;1512984814&q-url-param-list=&q-header-list=host&q-signature={SIG}")
AUTH_REDACTED = AUTH.replace(SIG, SIG_SHORT)
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"


@pytest.mark.parametrize(
    "value, keep, expected",
    [
        ("775888c7a6b7b1d1c8b8b3b2b1b0fdef", 4, "7758\u2026fdef"),
        (SIG, 4, SIG_SHORT),
        ("abcdefghijklm", 4, "abcd\u2026jklm"),  # 13 chars: long form
        ("abcdefghijkl", 4, "ab\u2026"),  # 12 chars: short form
        ("abcdef", 4, "ab\u2026"),
        ("abcde", 4, "a\u2026"),
        ("abc", 4, "a\u2026"),
        ("ab", 4, "\u2026"),
        ("a", 4, "\u2026"),
        ("", 4, ""),
        (None, 4, None),
        ("abcdefghijklmnop", 2, "ab\u2026op"),
        ("腾讯云对象存储服务的签名值很长很长", 4, "腾讯云对\u2026很长很长"),
    ],
)
def test_shorten(value: str | None, keep: int, expected: str | None) -> None:
    assert shorten(value, keep) == expected


@given(st.text(min_size=1, max_size=40))
def test_shorten_never_shows_short_values_whole(value: str) -> None:
    out = shorten(value)
    assert out is not None and out != value
    assert len(out.replace("\u2026", "")) < len(value)


def test_sensitive_fields() -> None:
    assert {"q-signature", "x-cos-security-token", "signature", "x-ci-security-token"} <= SENSITIVE_FIELDS
    assert "policy" not in SENSITIVE_FIELDS
    assert "q-ak" not in SENSITIVE_FIELDS
    assert all(name == name.lower() for name in SENSITIVE_FIELDS)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("q-signature", SIG, SIG_SHORT),
        ("Q-Signature", SIG, SIG_SHORT),
        ("x-cos-security-token", "tok" * 20, "tokt\u2026ktok"),
        ("X-COS-Security-Token", "tok" * 20, "tokt\u2026ktok"),
        ("x-ci-security-token", "tok" * 20, "tokt\u2026ktok"),
        ("Signature", AUTH, AUTH_REDACTED),
        ("signature", AUTH, AUTH_REDACTED),
        ("Authorization", AUTH, AUTH_REDACTED),
        ("Signature", "c2lnbmF0dXJlLW5vdC1hbi1hdXRoLXN0cmluZw==", "c2ln\u2026Zw=="),  # not an auth string
        ("Signature", "", ""),
        ("q-ak", AK, AK),
        ("policy", "eyJleHBpcmF0aW9uIjoiMjAyNi0xMS0yOVQwMzozNTo1NVoifQ==",
         "eyJleHBpcmF0aW9uIjoiMjAyNi0xMS0yOVQwMzozNTo1NVoifQ=="),
        ("key", "dir/${filename}", "dir/${filename}"),
        ("q-key-time", "1512983814;1512984814", "1512983814;1512984814"),
    ],
)
def test_redact_field(name: str, value: str, expected: str) -> None:
    assert redact_field(name, value) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (AUTH, AUTH_REDACTED),
        (AUTH + "&x-cos-security-token=" + "T" * 40, AUTH_REDACTED + "&x-cos-security-token=TTTT\u2026TTTT"),
        ("Q-SIGNATURE=" + SIG, "Q-SIGNATURE=" + SIG_SHORT),
        (f"https://b-1250000000.cos.ap-beijing.myqcloud.com/k?{AUTH}&response-content-type=x",
         f"https://b-1250000000.cos.ap-beijing.myqcloud.com/k?{AUTH_REDACTED}&response-content-type=x"),
        ("q-sign-algorithm%3Dsha1%26q-ak%3DAKID%26q-signature%3D" + SIG + "%26x=1",
         "q-sign-algorithm%3Dsha1%26q-ak%3DAKID%26q-signature%3D" + SIG_SHORT + "%26x=1"),
        ("x-cos-security-token%3D" + "a%2Bb" * 10 + "%26q-ak%3DAKID",
         "x-cos-security-token%3D" + "a%2B\u2026%2Bb" + "%26q-ak%3DAKID"),
        (f"Authorization: {AUTH}\r\nHost: x", f"Authorization: {AUTH_REDACTED}\r\nHost: x"),
        ("q-signature=", "q-signature="),
        ("no signature here", "no signature here"),
        ("", ""),
    ],
)
def test_redact_auth_string(text: str, expected: str) -> None:
    assert redact_auth_string(text) == expected


@pytest.mark.parametrize(
    "text, secrets, expected",
    [
        (f"key={SECRET_KEY}", [SECRET_KEY], f"key={REDACTED}"),
        (f"{SECRET_KEY}{SECRET_KEY} and {SECRET_KEY}", [SECRET_KEY], f"{REDACTED}{REDACTED} and {REDACTED}"),
        (f"HMAC({SECRET_KEY!r})", [SECRET_KEY], f"HMAC('{REDACTED}')"),
        ("short secret 1234567 stays", ["1234567"], "short secret 1234567 stays"),  # < 8 chars ignored
        ("eight ch 12345678", ["12345678"], f"eight ch {REDACTED}"),
        ("abcdefghXYZ", ["abcdefgh", "abcdefghXYZ"], REDACTED),  # longest wins
        ("a.b*c+d?e(f)", ["a.b*c+d?e(f)"], REDACTED),  # regex metacharacters are literal
        ("token=ab%2Bcd%2Fef%3D%3D", ["ab+cd/ef=="], f"token={REDACTED}"),  # URL-encoded form too
        ("nothing to see", [], "nothing to see"),
        ("nothing to see", [None, "", "x"], "nothing to see"),
        ("nothing to see", None, "nothing to see"),
    ],
)
def test_scrub(text: str, secrets: list, expected: str) -> None:
    assert scrub(text, secrets) == expected


def test_scrub_accepts_a_generator() -> None:
    assert scrub(f"x {SECRET_KEY} y", (s for s in [SECRET_KEY])) == f"x {REDACTED} y"


# Key-like alphabet without any character of the placeholder, so that the placeholder and its
# neighbours cannot form the secret again.
_KEYLIKE = st.text(alphabet=string.ascii_uppercase + string.digits + "+/=", min_size=8, max_size=40)


@given(prefix=st.text(max_size=30), suffix=st.text(max_size=30), secret=_KEYLIKE)
def test_scrub_removes_every_secret(prefix: str, suffix: str, secret: str) -> None:
    assert secret not in scrub(prefix + secret + suffix + secret, [secret])
