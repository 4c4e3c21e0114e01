"""Hostile and broken input (issue 13): every input gives a result or a located netspec error, quickly.

Each case here reproduced a traceback, a hang or a runaway computation before it was fixed.
"""

from __future__ import annotations

import pytest

import netspec
from netspec.diagnostics import Diagnostic, Span, _line_starts


@pytest.mark.parametrize("expr, words", [
    ("1e309", "`1e309` is too large"),
    ("10**5000", "far too large"),
    ("2**2**2**2**2**2**2", "far too large"),  # 2**(2**65536): computed, it would never finish
    ("0**-1", "division by zero"),
    ("99999999999999999999999", "too large"),
    ("2.5**100", "far too large"),
])
def test_runaway_numbers_are_located_errors(expr, words):
    with pytest.raises(netspec.SpecError) as info:
        netspec.parse(f"network t\ninput 3x8x8\nconv3-{{{expr}}} gap fc-2\n")
    d = info.value.diagnostics[0]
    assert words in d.message and d.code == "value" and d.span.line == 3


def test_a_huge_literal_size_is_refused():
    with pytest.raises(netspec.SpecError, match="too large"):
        netspec.parse("network t\ninput 3x8x8\nconv3-99999999999999999999999 gap fc-2\n")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_set_refuses_non_finite_numbers(cli, value):
    result = cli("summary", "lenet5", "--set", f"num_classes={value}")
    assert result.returncode == 2 and "not a finite number" in result.stderr and "Traceback" not in result.stderr


def test_diagnostics_index_each_source_once():
    """Drawing a finding used to split the whole source per finding: quadratic on a large spec."""
    source = "".join(f"conv3-{i}\n" for i in range(5000))
    _line_starts.cache_clear()
    out = [Diagnostic("x", Span(file="big.net", line=n, column=1, end_line=n, end_column=3)).render({"big.net": source})
           for n in range(1, 5001, 7)]
    assert _line_starts.cache_info().misses == 1
    assert "4999 | conv3-4998" in Diagnostic(
        "x", Span(file="big.net", line=4999, column=1, end_line=4999, end_column=2)).render({"big.net": source})
    assert out[1].splitlines()[1].strip() == "8 | conv3-7"
