"""COS upload doctor: a mitmproxy addon that explains failing Tencent Cloud COS POST Object uploads.

    mitmdump -s addon/cos_addon.py [--set cos_validate=warn|block] [--set cos_report=cos.jsonl]

This file only loads the addons. They live in `cosaddons/`, one feature each: `CosDoctor`
recognises and diagnoses COS flows and drives its sub-addons `CosBlock` (cos_validate),
`CosReport` (cos_report), `CosAudit` (cos_fail_on), `CosCommands` (cos.diagnose, cos.report) and
`CosContentView`. The checks live in `cosdoctor/`, which never imports mitmproxy. Every hook is
fail-open: an exception is logged once a minute and the flow goes on.
"""
from __future__ import annotations

import os
import sys

# The real folder of this file, whatever path or symlink it was loaded through: mitmproxy puts the
# folder of the path it was given on sys.path, which for a symlink is not where the packages are.
_HERE = os.path.dirname(os.path.realpath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from cosaddons.doctor import CosDoctor  # noqa: E402

__all__ = ["CosDoctor", "addons"]

addons = [CosDoctor()]
