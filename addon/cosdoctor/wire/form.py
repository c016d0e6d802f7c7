"""The COS view of a multipart body: fields in wire order, the file part, and what is ambiguous.

The multipart parser knows nothing about COS; this module applies COS's form rules on top of it
(field names case-insensitive, `file` last, `${filename}` substituted into `key`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cosdoctor.wire.multipart import MultipartForm, Part, parse_multipart

FILE_FIELD = "file"
# Field values longer than this are summarised, not decoded: only the file part may be large.
MAX_FIELD_DECODE = 1 << 20


@dataclass(slots=True)
class FormField:
    name: str          # as sent
    value: str         # UTF-8 decoded (invalid bytes replaced)
    part: Part

    @property
    def lname(self) -> str:
        return self.name.lower()


@dataclass(slots=True)
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

    # Both try `name` as given first: callers mostly pass lower-case names, and a hit is then the
    # right answer (every key is lower-cased, and lower() of a lower-cased string is itself).
    def get(self, name: str) -> str | None:
        found = self.by_name.get(name) or self.by_name.get(name.lower())
        return found.value if found else None

    def has(self, name: str) -> bool:
        return name in self.by_name or name.lower() in self.by_name

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


def build_form(multipart: MultipartForm, body: bytes) -> UploadForm:
    """Split parts into fields and file parts; record order problems and duplicates."""
    fields: list[FormField] = []
    file_parts: list[Part] = []
    names: list[str] = []
    by_name: dict[str, FormField] = {}
    first_file = -1
    for part in multipart.parts:
        name = part.name or ""
        names.append(name)
        lname = name.lower()
        if lname == FILE_FIELD:
            if first_file < 0:
                first_file = len(names)
            file_parts.append(part)
            continue
        start, end = part.data_start, part.data_end
        if end - start > MAX_FIELD_DECODE:
            end = start + MAX_FIELD_DECODE
        form_field = FormField(name, body[start:end].decode("utf-8", "replace"), part)
        fields.append(form_field)
        if lname not in by_name:
            by_name[lname] = form_field
    duplicates: tuple[tuple[str, int], ...] = ()
    if len(by_name) != len(fields):      # some lower-cased field name repeats
        counts: dict[str, int] = {}
        for name in names:
            lname = name.lower()
            counts[lname] = counts.get(lname, 0) + 1
        duplicates = tuple((n, c) for n, c in counts.items() if c > 1 and n != FILE_FIELD)
    return UploadForm(multipart, tuple(fields), tuple(file_parts), tuple(names),
                            tuple(names[first_file:]) if first_file >= 0 else (), duplicates,
                            by_name)


def parse_form(content_type: str | None, body: bytes, *, content_length: int | None = None,
               body_complete: bool = True, trust_tail: bool = False) -> UploadForm:
    """parse_multipart + build_form. trust_tail=True (only for a body COS already accepted): the
    `file` part is taken to run to the closing delimiter unscanned, and fields after it are not
    seen (see parse_multipart)."""
    return build_form(parse_multipart(content_type, body, content_length=content_length,
                                      body_complete=body_complete, trust_tail=trust_tail), body)
