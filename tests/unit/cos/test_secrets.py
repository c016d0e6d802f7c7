from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosdoctor.cos.secrets import (
    REDACTED,
    SENSITIVE_FIELDS,
    auth_secret_values,
    hide_values,
    is_secret_name,
    is_sensitive,
    redact_auth_string,
    redact_evidence,
    redact_field,
    scrub,
    sent_secrets,
    shorten,
    shorten_sent,
    without_secret_names,
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


@pytest.mark.parametrize("secrets", [
    ("s3cretKey-AAAA", "short"),
    ["s3cretKey-AAAA"],
    ("s3cretKey-AAAA", ["unhashable"]),            # the cached tuple path falls back, same result
    (s for s in ["s3cretKey-AAAA"]),
])
def test_scrub_gives_the_same_text_for_any_kind_of_collection(secrets) -> None:
    assert scrub("key s3cretKey-AAAA and short", secrets) == f"key {REDACTED} and short"


# --- which names are secret ------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("q-signature", True), ("Q-Signature", True), (" x-cos-security-token ", True),
    ("$x-cos-security-token", True), ("$Signature", True), ("authorization", True),
    ("x-ci-security-token", True), ("q-ak", False), ("policy", False), ("key", False),
    ("", False), (None, False), (42, False),
])
def test_is_sensitive(name, expected: bool) -> None:
    assert is_sensitive(name) is expected


@pytest.mark.parametrize("name", ["secret_key", "SecretKey", "tmpSecretKey", "x-secret-key", "password",
                                  "Passwd", "private_key", "secret", "SK"])
def test_names_of_secret_keys(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["secret_id", "q-ak", "key", "signature", "string_to_sign", "task", 7])
def test_names_that_are_not_secret_keys(name) -> None:
    assert not is_secret_name(name)


def test_without_secret_names_drops_them_at_any_depth_and_copies() -> None:
    value = {"SecretKey": SECRET_KEY, "ok": [{"tmpSecretKey": SECRET_KEY, "q-ak": AK}, ("t", 1)], 3: None}
    cleaned = without_secret_names(value)
    assert cleaned == {"ok": [{"q-ak": AK}, ["t", 1]], "3": None}
    assert SECRET_KEY not in repr(cleaned)
    deep: list = []
    cursor = deep
    for _ in range(30):
        cursor.append([])
        cursor = cursor[0]
    assert "(too deep)" in repr(without_secret_names(deep))


# --- which values a request sent -------------------------------------------------------------------

TOKEN = "T0ken" * 10


@pytest.mark.parametrize("text, expected", [
    (AUTH, [SIG]),
    (AUTH + "&x-cos-security-token=" + TOKEN, [SIG, TOKEN]),
    ("q-signature%3D" + SIG + "%26q-ak%3DAKID", [SIG]),
    ("q-signature=&q-ak=x", []),
    ("no auth string", []),
    (None, []),
])
def test_auth_secret_values(text, expected: list) -> None:
    assert auth_secret_values(text) == expected


@pytest.mark.parametrize("fields, expected", [
    ([("q-signature", SIG), ("q-ak", AK), ("key", "k" * 40)], [SIG]),
    ([("x-cos-security-token", TOKEN), ("Q-Signature", SIG)], [TOKEN, SIG]),      # longest first
    ([("Signature", AUTH)], [AUTH, SIG]),                   # the auth string, whole and by its signature
    ([("signature", "not an auth string at all")], ["not an auth string at all"]),
    ([("q-signature", "1234567")], []),                     # too short to search for
    ([("q-signature", "12345678")], ["12345678"]),
    ([("q-signature", SIG), ("q-signature", SIG)], [SIG]),
    ([], []),
])
def test_sent_secrets(fields: list, expected: list) -> None:
    assert sent_secrets(fields) == expected


@pytest.mark.parametrize("value, secrets, expected", [
    ("plain ascii", [SIG], "plain ascii"),
    (f"sig={SIG}", [SIG], f"sig={SIG_SHORT}"),
    ("lone \udc80 surrogate", [], "lone \\udc80 surrogate"),
    ("caf\u00e9", [SIG], "caf\u00e9"),
    ([1, None, 2.5, True, SIG], [SIG], [1, None, 2.5, True, SIG_SHORT]),
    ({"k\udc80": SIG, SIG: 1}, [SIG], {"k\\udc80": SIG_SHORT, SIG: 1}),     # keys are not values
    ((SIG,), [SIG], (SIG,)),                                                   # tuples are left as they are
    (None, [SIG], None),
])
def test_shorten_sent_shortens_secrets_and_drops_surrogates(value, secrets, expected) -> None:
    assert shorten_sent(value, secrets) == expected


def test_shorten_sent_copies_every_list_and_dict() -> None:
    findings = [{"id": "X", "evidence": {"values": ["a"], "nested": {"b": 1}}}]
    cleaned = shorten_sent(findings, [])
    assert cleaned == findings
    assert cleaned is not findings and cleaned[0] is not findings[0]
    assert cleaned[0]["evidence"] is not findings[0]["evidence"]
    assert cleaned[0]["evidence"]["values"] is not findings[0]["evidence"]["values"]
    assert cleaned[0]["evidence"]["nested"] is not findings[0]["evidence"]["nested"]


# --- hiding values in a finished text --------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (f"sent {SIG} twice {SIG}", f"sent {SIG_SHORT} twice {SIG_SHORT}"),
    (f'"token": "{TOKEN}"', f'"token": "{shorten(TOKEN)}"'),
    (f"quoted {SIG[:30]}… in a sentence", f"quoted {SIG[:4]}… in a sentence"),     # a long prefix: one ellipsis
    (f"quoted {SIG[:11]} is too short to matter", f"quoted {SIG[:11]} is too short to matter"),
    (f"key {SECRET_KEY}", f"key {REDACTED}"),
    ("nothing secret", "nothing secret"),
])
def test_hide_values(text: str, expected: str) -> None:
    assert hide_values(text, [SIG, TOKEN], (SECRET_KEY,)) == expected


def test_hide_values_finds_a_json_escaped_value() -> None:
    value = 'tok"en\\with/escapes' * 2
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    assert hide_values(f"x {escaped} y", [value]) == f"x {shorten(value)} y"


@given(prefix=st.text(max_size=20), suffix=st.text(max_size=20))
def test_hide_values_never_leaves_a_value_whole(prefix: str, suffix: str) -> None:
    out = hide_values(prefix + SIG + suffix + TOKEN, [SIG, TOKEN], (SECRET_KEY,))
    assert SIG not in out and TOKEN not in out


# --- evidence --------------------------------------------------------------------------------------

@pytest.mark.parametrize("evidence, changed", [
    ({"part_content_type": "application/octet-stream"}, False),
    ({"field": "key", "actual": "a" * 20}, False),
    ({"field": "Q-Signature", "actual": SIG, "why": f"{SIG} differs"}, True),
    ({"field": "$x-cos-security-token", "expected": TOKEN, "values": [TOKEN, "x"]}, True),
    ({"q_signature": SIG, "detail": SIG}, True),
])
def test_redact_evidence_leaves_harmless_evidence_alone(evidence: dict, changed: bool) -> None:
    before = dict(evidence)
    result = redact_evidence(evidence)
    assert result is evidence
    assert (result != before) is changed
    assert not changed or all(SIG not in str(v) and TOKEN not in str(v) for v in result.values())
