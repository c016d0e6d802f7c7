"""The catalogue is data: check its shape, its coverage of the contract and the finding builder."""
from __future__ import annotations

import copy
import json
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest

from cosdoctor.findings import catalogue

ADDON = Path(__file__).resolve().parents[3] / "addon"
CATALOGUE_JSON = ADDON / "cosdoctor" / "findings" / "catalogue.json"
LABELS_JSON = ADDON / "cosdoctor" / "findings" / "labels.json"

# Written out from CONTRACT.md on purpose (not imported from the module under test).
SEED_IDS = ["AccessDenied_q-ak", "AccessDenied_Expiration", "SignatureDoesNotMatch_POSTSignature",
            "InvalidPolicyDocument_JSONFormat", "AccessDenied_BucketNotConsistent",
            "AccessDenied_Condition", "MalformedPOSTRequest_POSTBody"]
MISTAKES = ["sha1-of-base64-policy", "policy-bytes-differ", "key-time-mismatch", "hmac-args-swapped",
            "binary-sign-key", "uppercase-hex", "wrong-secret-key", "malformed"]
REASONS = ["not-multipart", "missing-boundary", "boundary-mismatch", "bare-lf",
           "missing-content-disposition", "missing-name", "unterminated-part-headers", "truncated",
           "file-not-last", "no-file-part", "too-many-parts"]
OTHER_CONTRACT_IDS = ["EntityTooLarge_ContentLengthRange", "EntityTooSmall_ContentLengthRange",
                      "AccessDenied_RequestExpired", "RequestTimeTooSkewed_ClockSkew",
                      "AccessDenied_NoPermission", "AccessForbidden_CORS",
                      "IncorrectNumberOfFilesInPostRequest_FileCount"]
ALL_IDS = list(catalogue.all_ids())
HANGUL = re.compile(r"[\uac00-\ud7a3]")
CJK = re.compile(r"[\u4e00-\u9fff]")


def raw_doc() -> dict:
    return json.loads(CATALOGUE_JSON.read_text(encoding="utf-8"))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# --- IDs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("finding_id", SEED_IDS + OTHER_CONTRACT_IDS)
def test_contract_ids_exist(finding_id):
    assert finding_id in ALL_IDS
    assert catalogue.entry(finding_id).id == finding_id


def test_catalogue_validates_clean():
    assert catalogue.validate() == []


def test_ids_unique_in_the_file_itself():
    keys: list[str] = []

    def hook(pairs):
        keys.extend(k for k, _ in pairs)
        return dict(pairs)

    doc = json.loads(CATALOGUE_JSON.read_text(encoding="utf-8"), object_pairs_hook=hook)
    ids = list(doc["entries"])
    assert len(ALL_IDS) == len(set(ALL_IDS)) == len(ids)
    # every id appears as a key exactly once across the whole file
    assert all(keys.count(i) == 1 for i in ids)


def test_duplicate_id_in_raw_json_is_detected():
    text = '{"entries": {"AccessDenied_q-ak": {"a": 1}, "AccessDenied_q-ak": {"a": 2}}}'
    problems = catalogue.problems_of(text)
    assert any("AccessDenied_q-ak" in p and "duplicate" in p for p in problems)


def test_the_files_as_shipped_have_no_problems():
    assert catalogue.problems_of(CATALOGUE_JSON.read_text(encoding="utf-8"),
                                 LABELS_JSON.read_text(encoding="utf-8")) == []


def test_invalid_json_is_a_problem_not_a_traceback():
    problems = catalogue.problems_of('{"entries": ')
    assert problems and "JSON" in problems[0]


def test_severity_follows_the_id_convention():
    for fid in ALL_IDS:
        e = catalogue.entry(fid)
        if fid.startswith("Warning_"):
            assert (e.severity, e.code, e.status, e.certain) == ("warning", None, None, False)
        elif fid.startswith("Info_"):
            assert (e.severity, e.code, e.status, e.certain) == ("info", None, None, False)
        elif fid != "Unknown_Code":
            assert e.severity == "error" and fid.startswith(f"{e.code}_") and e.status >= 400
        if e.certain:
            assert e.message is not None


# --- validator: a valid document, one delta per case ------------------------------------------

def _set(path, value):
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _delete(path):
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


E = "entries"
VALIDATOR_CASES = [
    ("bad severity", _set([E, "AccessDenied_q-ak", "severity"], "fatal"), r"bad severity"),
    ("missing ko", _delete([E, "AccessDenied_q-ak", "text", "ko"]), r"text languages"),
    ("empty zh fix", _set([E, "AccessDenied_q-ak", "text", "zh", "fix"], " "), r"fix\.zh: empty"),
    ("missing field", _delete([E, "AccessDenied_q-ak", "doc"]), r"missing \['doc'\]"),
    ("error without status", _set([E, "NoSuchBucket_Host", "status"], None), r"needs a code and a status"),
    ("error without code", _set([E, "NoSuchBucket_Host", "code"], None), r"needs a code and a status"),
    ("id not code_reason", _set([E, "NoSuchBucket_Host", "code"], "NoSuchKey"), r"must be NoSuchKey_<reason>"),
    ("warning with code", _set([E, "Warning_ClockSkew", "code"], "Oops"), r"no code/status"),
    ("warning as error", _set([E, "Warning_ClockSkew", "severity"], "error"), r"severity must be 'warning'"),
    ("certain without message", _set([E, "AccessDenied_q-ak", "message"], None), r"certain needs"),
    ("undocumented placeholder", _set([E, "AccessDenied_q-ak", "text", "en", "title"], "{secret}"),
     r"\{secret\} not in evidence"),
    ("positional placeholder", _set([E, "AccessDenied_q-ak", "text", "en", "title"], "{} x"),
     r"not a plain name"),
    ("attribute placeholder", _set([E, "AccessDenied_q-ak", "text", "en", "title"], "{field.x}"),
     r"not a plain name"),
    ("format spec", _set([E, "AccessDenied_q-ak", "text", "en", "title"], "{field:>9}"), r"format spec"),
    ("bad braces", _set([E, "AccessDenied_q-ak", "text", "en", "title"], "a { b"), r"bad braces"),
    ("derived without source", _set([E, "NoSuchBucket_Host", "text", "en", "cause"], "{mistake_text}"),
     r"\{mistake_text\} not in evidence"),
    ("message placeholder", _set([E, "AccessDenied_q-ak", "message"], "x {why}"), r"message: placeholder"),
    ("defaults are gone", _set([E, "NoSuchBucket_Host", "defaults"], {"bucket": ""}), r"unknown keys"),
    ("placeholder outside a choice", _set([E, "NoSuchBucket_Host", "text", "ko", "title"], "버킷 {bucket}"),
     r"\{bucket\} outside \[\[\.\.\.\]\]"),
    ("languages disagree", _set([E, "NoSuchBucket_Host", "text", "zh", "title"], "存储桶不存在"),
     r"title: the languages use different placeholders"),
    ("unclosed choice", _set([E, "NoSuchBucket_Host", "text", "en", "title"], "[[Bucket {bucket}"),
     r"'\[\[' without '\]\]'"),
    ("stray choice end", _set([E, "NoSuchBucket_Host", "text", "en", "title"], "Bucket]] x"), r"'\]\]' without"),
    ("table word missing", _delete(["malformations", "empty-body"]), r"malformations: 'empty-body' is missing"),
    ("table word nobody uses", _set(["conditions", "bogus"], {"en": "a", "ko": "가", "zh": "甲"}),
     r"conditions: 'bogus' is not a word"),
    ("placeholder in a plain table", _set(["mistakes", "malformed", "en"], "x {offset}"), r"takes no placeholder"),
    ("non-https doc", _set([E, "NoSuchBucket_Host", "doc"], "http://x"), r"https URL"),
    ("seed removed", _delete([E, "AccessDenied_Condition"]), r"seed ID AccessDenied_Condition"),
    ("template removed", _delete([E, "Unknown_Code"]), r"Unknown_Code template"),
    ("mistake word removed", _delete(["mistakes", "uppercase-hex"]), r"mistakes: 'uppercase-hex'"),
    ("reason word removed", _delete(["reasons", "bare-lf"]), r"reasons: 'bare-lf'"),
    ("reason lang missing", _delete(["reasons", "bare-lf", "zh"]), r"reasons\.bare-lf"),
    ("fallback missing", _delete(["fallback", "reason"]), r"fallback\.reason"),
    ("unknown entry key", _set([E, "AccessDenied_q-ak", "colour"], "red"), r"unknown keys"),
]


@pytest.mark.parametrize("name,mutate,pattern", VALIDATOR_CASES, ids=[c[0] for c in VALIDATOR_CASES])
def test_validator_reports_each_defect(name, mutate, pattern):
    doc = raw_doc()
    assert catalogue.problems_of(json.dumps(doc)) == []
    broken = copy.deepcopy(doc)
    mutate(broken)
    problems = catalogue.problems_of(json.dumps(broken))
    assert any(re.search(pattern, p) for p in problems), problems


def test_broken_catalogue_fails_at_import(tmp_path):
    shutil.copytree(ADDON / "cosdoctor", tmp_path / "cosdoctor", ignore=shutil.ignore_patterns("__pycache__"))
    package = tmp_path / "cosdoctor" / "findings"
    text = CATALOGUE_JSON.read_text(encoding="utf-8")
    # a second copy of a seed entry: json.load alone would silently keep one of them
    dup = text.replace('"entries": {', '"entries": {\n  "AccessDenied_q-ak": {},', 1)
    (package / "catalogue.json").write_text(dup, encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", "import cosdoctor.findings.catalogue"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "RuntimeError" in run.stderr and "duplicate key 'AccessDenied_q-ak'" in run.stderr


def test_loads_from_a_plain_folder_on_sys_path(tmp_path):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from cosdoctor.findings import catalogue; "
            "print(len(catalogue.all_ids()))")
    run = subprocess.run([sys.executable, "-c", code, str(ADDON)], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == len(ALL_IDS)


# --- completeness and translations --------------------------------------------------------------

@pytest.mark.parametrize("finding_id", ALL_IDS)
def test_entry_complete_in_every_language(finding_id):
    e = catalogue.entry(finding_id)
    assert e.doc.startswith("https://www.tencentcloud.com/document/product/436/")
    assert set(e.text) == set(catalogue.LANGS)
    for lang in catalogue.LANGS:
        assert set(e.text[lang]) == {"title", "cause", "fix"}
        assert all(isinstance(v, str) and v.strip() for v in e.text[lang].values())


@pytest.mark.parametrize("finding_id", ALL_IDS)
def test_ko_and_zh_are_translations_not_copies(finding_id):
    text = catalogue.entry(finding_id).text
    for field in ("title", "cause", "fix"):
        assert text["ko"][field] != text["en"][field]
        assert text["zh"][field] != text["en"][field]
        assert HANGUL.search(text["ko"][field]), (finding_id, field)
        assert CJK.search(text["zh"][field]), (finding_id, field)
        # placeholders survive translation unchanged (same evidence in every language)
        assert placeholders(text["ko"][field]) <= placeholders(text["en"][field]) | {"actual_text"}


def test_entry_is_immutable():
    e = catalogue.entry("AccessDenied_q-ak")
    with pytest.raises(AttributeError):
        e.severity = "info"  # type: ignore[misc]
    with pytest.raises(TypeError):
        e.text["en"]["title"] = "x"  # type: ignore[index]


@pytest.mark.parametrize("word", MISTAKES)
def test_every_mistake_word_is_explained(word):
    en, ko, zh = (catalogue.mistake_text(word, lang) for lang in ("en", "ko", "zh"))
    assert en.strip() and ko != en and zh != en
    assert HANGUL.search(ko) and CJK.search(zh)


@pytest.mark.parametrize("word", REASONS)
def test_every_reason_word_is_explained(word):
    en, ko, zh = (catalogue.reason_text(word, lang) for lang in ("en", "ko", "zh"))
    assert en.strip() and ko != en and zh != en
    assert HANGUL.search(ko) and CJK.search(zh)


@pytest.mark.parametrize("call,exc", [
    (lambda: catalogue.mistake_text("nope"), KeyError),
    (lambda: catalogue.reason_text("nope"), KeyError),
    (lambda: catalogue.mistake_text("malformed", "fr"), ValueError),
    (lambda: catalogue.reason_text("bare-lf", "EN"), ValueError),
    (lambda: catalogue.texts("AccessDenied_q-ak", "fr"), ValueError),
    (lambda: catalogue.texts("NoSuch_Thing", "en"), KeyError),
    (lambda: catalogue.finding("AccessDenied_q-ak", "later", {}), ValueError),
    (lambda: catalogue.finding("NoSuch_Thing", "preflight", {}), KeyError),
    (lambda: catalogue.entry("Warning_Nope"), KeyError),
    (lambda: catalogue.entry("Unknown_"), KeyError),
    (lambda: catalogue.entry("Unknown_two words"), KeyError),
])
def test_bad_lookups_raise_the_documented_error(call, exc):
    with pytest.raises(exc):
        call()


# --- the plain finding builder ---------------------------------------------------------------------

@pytest.mark.parametrize("finding_id", ALL_IDS)
def test_a_plain_finding_has_no_words(finding_id):
    """Checks produce ID, severity, phase and evidence; words come only at render time."""
    found = catalogue.finding(finding_id, "preflight", None)
    assert found == {"id": finding_id, "severity": catalogue.entry(finding_id).severity,
                     "phase": "preflight", "evidence": {}}


def test_plain_evidence_is_json_ready_and_a_copy():
    evidence = {"field": "key", "values": ("a", "b"), "raw": b"\xffx", "set": {2, 1},
                "nested": {"t": (1, None)}, "path": Path("/x")}
    found = catalogue.finding("Warning_DuplicateField", "preflight", evidence)
    assert json.loads(json.dumps(found)) == found
    assert found["evidence"]["values"] == ["a", "b"] and found["evidence"]["set"] == [1, 2]
    assert found["evidence"]["nested"] == {"t": [1, None]}
    evidence["field"] = "changed"
    assert found["evidence"]["field"] == "key"


def test_one_severity_order():
    assert catalogue.SEVERITIES == ("error", "warning", "info")
    assert [catalogue.severity_rank(s) for s in ("error", "warning", "info", "fatal", None)] == [0, 1, 2, 3, 3]


# --- Unknown_<Code> ------------------------------------------------------------------------------

def test_unknown_code_resolves_to_the_template():
    e = catalogue.entry("Unknown_Foo")
    assert (e.id, e.code, e.severity, e.certain) == ("Unknown_Foo", "Foo", "error", False)
    assert e.text == catalogue.entry("Unknown_Code").text
    assert "Unknown_Foo" not in catalogue.all_ids()


def test_unknown_finding_carries_code_message_and_request_id():
    found = catalogue.finding("Unknown_Foo", "response", {"message": "Bar happened", "request_id": "R1"})
    assert found["id"] == "Unknown_Foo" and found["evidence"]["code"] == "Foo"
    assert catalogue.cos_message("Unknown_Foo", {"message": "Bar happened"}) == "Bar happened"


# --- cos_message ---------------------------------------------------------------------------------

@pytest.mark.parametrize("finding_id,evidence,expected", [
    ("AccessDenied_q-ak", {"actual": "AKIDx"}, "Condition key q-ak doesn't match the value AKIDx"),
    ("AccessDenied_q-ak", {"actual": None}, "Condition key q-ak doesn't match the value "),
    ("AccessDenied_q-ak", {}, "Condition key q-ak doesn't match the value "),
    ("AccessDenied_Condition", {"field": "key", "actual": "a/b.png"},
     "Condition key key doesn't match the value a/b.png"),
    ("AccessDenied_BucketNotConsistent", {"actual": "b-1250000000"},
     "Condition key bucket doesn't match the value b-1250000000"),
    ("AccessDenied_Expiration", {"expiration_unix": 1621188104, "now_unix": 1621245817},
     "You post object request has been expired, expiration time: 1621188104 but the time now : 1621245817"),
    ("EntityTooLarge_ContentLengthRange", {"actual": 99},
     "Condition key content-length-range doesn't match the value "),
    ("EntityTooLarge_MaxObjectSize", {}, "Your proposed upload exceeds the maximum allowed object size"),
    ("SignatureDoesNotMatch_POSTSignature", {}, "The Signature you specified is invalid."),
    ("AccessDenied_RequestExpired", {}, "Request has expired"),
    ("InvalidArgument_MissingField", {"field": "key"}, None),
    ("Warning_ClockSkew", {}, None),
])
def test_cos_message(finding_id, evidence, expected):
    assert catalogue.cos_message(finding_id, evidence) == expected


def test_certain_entries_are_exactly_those_with_a_message():
    # EntityTooSmall_PartSize: documented, but predicted from earlier flows the proxy may not all have seen.
    uncertain_with_message = {"AccessDenied_SignatureEmpty", "Unknown_Code", "EntityTooSmall_PartSize"}
    for fid in ALL_IDS:
        e = catalogue.entry(fid)
        has_message = e.message is not None
        assert e.certain == (has_message and fid not in uncertain_with_message), fid
