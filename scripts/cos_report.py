#!/usr/bin/env python3
"""Turn the addon's JSON Lines audit log (cos_report) into one self-contained HTML page.

    python scripts/cos_report.py report.jsonl [-o report.html] [--lang en|ko|zh] [--title TEXT]

Malformed lines are skipped, counted and named on stderr (line number and why); the page is still
written. Exit status: 0 written, 2 the input cannot be read or the output cannot be written.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "addon"))

from cosdoctor.render.html import LABELS, render_html  # noqa: E402

MAX_PROBLEMS_SHOWN = 20


def read_records(path: Path) -> tuple[list[dict], list[tuple[int, str]]]:
    """The JSON objects of a JSON Lines file, and (line number, reason) for each line skipped.

    Raises OSError when the file cannot be read at all.
    """
    records: list[dict] = []
    problems: list[tuple[int, str]] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                problems.append((number, "not UTF-8"))
                continue
            if number == 1:
                text = text.lstrip("\ufeff")   # a byte order mark from an editor
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append((number, f"not JSON ({exc.msg} at column {exc.colno})"))
                continue
            except ValueError:                 # e.g. an integer too long to convert
                problems.append((number, "not JSON"))
                continue
            except RecursionError:
                problems.append((number, "nested too deeply"))
                continue
            if not isinstance(value, dict):
                problems.append((number, f"a JSON {type(value).__name__}, not an object"))
                continue
            records.append(value)
    return records, problems


def default_output(source: Path) -> Path:
    return source.with_suffix(".html") if source.suffix != ".html" else source.with_name(source.name + ".html")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="JSON Lines file written by the addon (cos_report)")
    parser.add_argument("-o", "--output", type=Path, help="HTML file to write (default: same name, .html)")
    parser.add_argument("--lang", default="en", choices=sorted(LABELS),
                        help="language of the page: its labels and every finding's texts, worded again from "
                             "the findings' IDs and evidence (a report captured in en reads in ko or zh)")
    parser.add_argument("--title", default=None, help="page title (default: the number of flows, in --lang)")
    args = parser.parse_args(argv)
    source: Path = args.report
    try:
        records, problems = read_records(source)
    except OSError as exc:
        print(f"cos_report: cannot read {source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for number, reason in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"cos_report: {source}:{number}: skipped, {reason}", file=sys.stderr)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"cos_report: … and {len(problems) - MAX_PROBLEMS_SHOWN} more malformed line(s)", file=sys.stderr)
    if problems:
        print(f"cos_report: skipped {len(problems)} malformed line(s)", file=sys.stderr)
    output: Path = args.output or default_output(source)
    page = render_html(records, title=args.title, lang=args.lang)
    try:
        output.write_text(page, encoding="utf-8")
    except OSError as exc:
        print(f"cos_report: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"cos_report: {len(records)} record(s) -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
