"""The examples in the README and the language reference parse, so the docs cannot drift."""

from __future__ import annotations

import re

import pytest

import netspec
from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = [(doc, block) for doc in DOCS if doc.exists()
            for block in re.findall(r"```net\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)]


def test_there_are_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("doc, text", EXAMPLES, ids=[f"{d.name}-{i}" for i, (d, _) in enumerate(EXAMPLES)])
def test_example_elaborates_and_meets_its_expectations(doc, text):
    net = netspec.parse(text, filename=str(doc))
    for expect in net.expects:
        if expect.what == "output":
            assert "x".join(map(str, net.output_shape)) == expect.value
    from netspec.analysis import analyze  # the analysis checks `expect params`

    result = analyze(net)
    for expect in net.expects:
        if expect.what == "params":
            assert result.trainable_params == int(expect.value)
