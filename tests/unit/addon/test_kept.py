"""The analyses kept for the content view: as long as their flow lives, and never more than the cap."""
from __future__ import annotations

import gc

from mitmproxy.test import tflow

from cosaddons.kept import KeptAnalyses


def test_an_analysis_is_found_for_its_own_flow_only():
    kept = KeptAnalyses()
    flow, other = tflow.tflow(), tflow.tflow()
    analysis = object()
    kept.put(flow, analysis)
    assert kept.get(flow) is analysis and kept.get(other) is None


def test_it_goes_when_its_flow_goes():
    kept = KeptAnalyses()
    flow = tflow.tflow()
    kept.put(flow, object())
    assert len(kept) == 1
    del flow
    gc.collect()
    assert len(kept) == 0


def test_the_oldest_is_dropped_beyond_the_cap():
    kept = KeptAnalyses(capacity=2)
    flows = [tflow.tflow() for _ in range(3)]
    for n, flow in enumerate(flows):
        kept.put(flow, n)
    assert [kept.get(f) for f in flows] == [None, 1, 2]


def test_a_second_put_replaces_the_first():
    kept = KeptAnalyses()
    flow = tflow.tflow()
    kept.put(flow, "first")
    kept.put(flow, "second")
    assert kept.get(flow) == "second" and len(kept) == 1
