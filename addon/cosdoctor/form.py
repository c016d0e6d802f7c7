"""The COS view of a multipart body: fields in wire order, the file part, and what is ambiguous.

The multipart parser knows nothing about COS; this module applies COS's form rules on top of it
(field names case-insensitive, `file` last, `${filename}` substituted into `key`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cosdoctor.multipart import MultipartForm, Part, parse_multipart

FILE_FIELD = "file"
# Field values longer than this are summarised, not decoded: only the file part may be large.
MAX_FIELD_DECODE = 1 << 20


@dataclass(frozen=True, slots=True)
class FormField:
    name: str          # as sent
    value: str         # UTF-8 decoded (invalid bytes replaced)
    part: Part

    @property
    def lname(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class UploadForm:
    """A parsed POST Object form. `fields` excludes the file part."""

    multipart: MultipartForm
    fields: tuple[FormField, ...]
    file_parts: tuple[Part, ...]
    names: tuple[str, ...]                 # every part name in wire order (file included)
    after_file: tuple[str, ...]            # names of the parts that follow the first file part
    duplicates: tuple[tuple[str, int], ...]  # (lower-cased name, count) for names sent more than once
    by_name: dict[str, FormField] = field(repr=False)  # lower-cased name -> first occurrence

    @property
    def file(self) -> Part | None:
        return self.file_parts[0] if self.file_parts else None

    def get(self, name: str) -> str | None:
        found = self.by_name.get(name.lower())
        return found.value if found else None

    def has(self, name: str) -> bool:
        return name.lower() in self.by_name

    @property
    def filename(self) -> str | None:
        return self.file.filename if self.file else None

    @property
    def key(self) -> str | None:
        """The object key after `${filename}` substitution, as COS checks it."""
        raw = self.get("key")
        if raw is None:
            return None
        return substitute_filename(raw, self.filename)

    def condition_values(self) -> dict[str, str]:
        """Lower-cased name -> value as policy conditions see them (first occurrence, key substituted)."""
        values = {name: f.value for name, f in self.by_name.items()}
        if "key" in values:
            values["key"] = self.key or ""
        return values

    @property
    def mode(self) -> str:
        if self.has("q-signature") or (self.has("policy") and not self.has("signature")):
            return "policy"
        if self.has("signature"):
            return "signature-field"
        return "anonymous"


def substitute_filename(value: str, filename: str | None) -> str:
    if "${filename}" not in value or filename is None:
        return value
    return value.replace("${filename}", filename)


def _decode(body: bytes, part: Part) -> str:
    end = min(part.data_end, part.data_start + MAX_FIELD_DECODE)
    return body[part.data_start:end].decode("utf-8", errors="replace")


def build_form(multipart: MultipartForm, body: bytes) -> UploadForm:
    """Split parts into fields and file parts; record order problems and duplicates."""
    fields: list[FormField] = []
    file_parts: list[Part] = []
    names: list[str] = []
    after_file: list[str] = []
    counts: dict[str, int] = {}
    by_name: dict[str, FormField] = {}
    for part in multipart.parts:
        name = part.name or ""
        names.append(name)
        lname = name.lower()
        counts[lname] = counts.get(lname, 0) + 1
        if file_parts:
            after_file.append(name)
        if lname == FILE_FIELD:
            file_parts.append(part)
            continue
        form_field = FormField(name, _decode(body, part), part)
        fields.append(form_field)
        by_name.setdefault(lname, form_field)
    duplicates = tuple((n, c) for n, c in counts.items() if c > 1 and n != FILE_FIELD)
    return UploadForm(multipart, tuple(fields), tuple(file_parts), tuple(names),
                      tuple(after_file), duplicates, by_name)


def parse_form(content_type: str | None, body: bytes, *, content_length: int | None = None,
               body_complete: bool = True) -> UploadForm:
    return build_form(parse_multipart(content_type, body, content_length=content_length,
                                      body_complete=body_complete), body)
