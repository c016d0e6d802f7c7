"""The analysis behind each flow's diagnosis, kept for the content view so that it never parses twice.

`flow.metadata["cos"]` holds what the diagnosis says (plain data, saved with the flow); the view also
shows how the request was read (parts with offsets, the decoded policy, each condition), which lives
in the analysis. An entry lives as long as its flow (a weak reference: mitmdump drops finished
flows, and so does this) and at most `capacity` entries are kept (the oldest is dropped), so memory
stays bounded in a long mitmweb session too.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict

from cosdoctor.findings.request_checks import Analysis

CAPACITY = 512


class KeptAnalyses:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[int, tuple[weakref.ref, Analysis]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, flow: object, analysis: Analysis) -> None:
        key = id(flow)
        self._entries.pop(key, None)
        self._entries[key] = (weakref.ref(flow, self._forget(key)), analysis)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def get(self, flow: object) -> Analysis | None:
        entry = self._entries.get(id(flow))
        if entry is None or entry[0]() is not flow:
            return None
        return entry[1]

    def _forget(self, key: int):
        entries = self._entries

        def forget(ref: weakref.ref) -> None:
            entry = entries.get(key)
            if entry is not None and entry[0] is ref:
                del entries[key]
        return forget
