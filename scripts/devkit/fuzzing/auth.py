"""Header-style auth strings (the form's Signature field): parse_auth_string's invariants and the
generator of valid and damaged strings."""
from __future__ import annotations

import random
import string

from cosdoctor.cos.signature import MAX_AUTH_PROBLEMS, KEY_TIME_RE, AuthString, is_hex40, parse_auth_string
from devkit.fuzzing.common import SECRET_ID, need, rand_text

def check_auth(text: object, *, expect: dict | None = None) -> AuthString:
    auth = check_auth_fields(parse_auth_string(text))  # type: ignore[arg-type]
    if expect is not None:
        need(auth.problems == (), "auth.valid-rejected", auth.problems)
        got = {"algorithm": auth.algorithm, "ak": auth.ak, "sign_time": auth.sign_time,
               "key_time": auth.key_time, "header_list": list(auth.header_list),
               "param_list": list(auth.param_list), "signature": auth.signature}
        need(got == expect, "auth.valid-values", (got, expect))
    return auth


def check_auth_fields(auth: object) -> AuthString:
    """What every AuthString must hold, however it was read (a header, a query, a form field)."""
    need(type(auth) is AuthString, "auth.type", type(auth))
    assert isinstance(auth, AuthString)
    need(isinstance(auth.problems, tuple) and all(isinstance(p, str) and p for p in auth.problems),
         "auth.problems")
    for name in ("algorithm", "ak", "sign_time", "key_time", "signature"):
        value = getattr(auth, name)
        need(value is None or isinstance(value, str), "auth.field-type", name)
    need(isinstance(auth.header_list, tuple) and all(isinstance(x, str) for x in auth.header_list),
         "auth.header-list")
    need(isinstance(auth.param_list, tuple) and all(isinstance(x, str) for x in auth.param_list),
         "auth.param-list")
    if not auth.problems:
        need(auth.algorithm == "sha1" and auth.ak is not None, "auth.clean-but-incomplete")
        need(is_hex40(auth.signature or ""), "auth.clean-but-bad-signature", auth.signature)
        for value in (auth.sign_time, auth.key_time):
            need(value is not None and KEY_TIME_RE.fullmatch(value), "auth.clean-but-bad-time", value)
            start, end = value.split(";")
            need(int(start) <= int(end), "auth.clean-but-reversed-time", value)
    need(len(auth.problems) <= MAX_AUTH_PROBLEMS + 1, "auth.problems-unbounded", len(auth.problems))
    return auth


# --- the generator ------------------------------------------------------------------------------

def gen_auth(r: random.Random) -> dict:
    start = r.randint(0, 2_000_000_000)
    times = f"{start};{start + r.randint(0, 100_000)}"
    header_list = [r.choice(("host", "content-type", "x-cos-meta-a", "content-length", "origin"))
                   for _ in range(r.randint(0, 3))]
    values = {"q-sign-algorithm": "sha1", "q-ak": r.choice((SECRET_ID, "AKID" + rand_text(r, 10, pools=(string.ascii_letters,)))),
              "q-sign-time": times, "q-key-time": times if r.random() < 0.8 else f"{start};{start + 1}",
              "q-header-list": ";".join(header_list), "q-url-param-list": r.choice(("", "prefix", "a;b")),
              "q-signature": "".join(r.choice("0123456789abcdef") for _ in range(40))}
    items = list(values.items())
    r.shuffle(items)
    if r.random() < 0.35:
        expect = {"algorithm": "sha1", "ak": values["q-ak"], "sign_time": values["q-sign-time"],
                  "key_time": values["q-key-time"],
                  "header_list": values["q-header-list"].split(";") if values["q-header-list"] else [],
                  "param_list": values["q-url-param-list"].split(";") if values["q-url-param-list"] else [],
                  "signature": values["q-signature"]}
        return {"text": "&".join(f"{k}={v}" for k, v in items), "expect": expect}
    for _ in range(r.randint(1, 3)):
        op = r.randrange(12)
        i = r.randrange(len(items)) if items else 0
        if op == 0 and items:
            items.pop(i)
        elif op == 1 and items:
            items.insert(i, items[i])
        elif op == 2 and items:
            items[i] = (items[i][0].upper(), items[i][1])
        elif op == 3 and items:
            items[i] = (" " + items[i][0], items[i][1] + " ")
        elif op == 4:
            items.append((rand_text(r, 8), rand_text(r, 8)))
        elif op == 5 and items:
            items[i] = (items[i][0], r.choice(("", "sha256", "1;", ";", "a;b", "2;1", "-1;5", "1;" + "9" * 5000,
                                               "9" * 5000 + ";1", "1 ;2", "１;２", "ABCDEF" * 7)))
        elif op == 6 and items:
            items[i] = (items[i][0], rand_text(r, 30))
        elif op == 7 and items:
            items[i] = (items[i][0] + "=" + items[i][1], "")
        elif op == 8:
            items.insert(i, ("", ""))
        else:
            r.shuffle(items)
    sep = r.choice(("&", "&", "&", ";", "&&", "%26"))
    text = sep.join(f"{k}={v}" if r.random() < 0.97 else k for k, v in items)
    if r.random() < 0.02:
        return {"text": r.choice((None, b"q-ak=x", 12, ["x"]))}
    return {"text": text}
