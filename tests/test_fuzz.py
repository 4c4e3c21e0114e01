"""Fuzzing as a test (issue 13): random sentences of the grammar and mutated zoo specs must each give a
network or a located SpecError, never another exception, hang or runaway.

A few thousand cases in all, derandomized so that CI runs the same ones every time; the cases
fuzzing found are kept as reproducers (FOUND). benchmarks/fuzz.py runs the same property for
hours (`python benchmarks/fuzz.py --cases 200000`).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz_inputs import ZOO, check, grammar_specs, mutated_specs

# found by benchmarks/fuzz.py (each was a traceback before its fix)
FOUND = [
    ("<fuzz>", "input 16\nresidual([] # c\n,){ avgpool1  # c\n:gate {} # c\n}\n"),  # TypeError: Body as a value
    ("<fuzz>", "input 3x8x8\ndense([relu]) { relu }\n"),
    ("<fuzz>", "input 3x8x8\nconv3-{divisible(8, 0)}\n"),  # ZeroDivisionError
]

FAST = settings(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))


@settings(FAST, max_examples=2000)
@given(grammar_specs)
def test_grammar_sentences_give_a_network_or_a_located_error(text):
    check(text)


@settings(FAST, max_examples=400)
@given(mutated_specs)
def test_mutated_zoo_specs_give_a_network_or_a_located_error(case):
    check(case[1], case[0])


@pytest.mark.parametrize("filename, text", FOUND)
def test_what_fuzzing_found_stays_fixed(filename, text):
    assert check(text, filename) == "error"


def test_the_fuzzer_reaches_the_elaborator():
    """Most inputs must get past the parser, or the fuzzing only tests the parser: count outcomes."""
    import random

    from fuzz_inputs import grammar_spec, mutated_spec

    rnd = random.Random(0)
    outcomes = [check(*reversed(mutated_spec(rnd))) for _ in range(60)]
    assert outcomes.count("ok") >= 5 and outcomes.count("error") >= 5
    assert sum(check(grammar_spec(rnd)) == "ok" for _ in range(300)) >= 10
    assert len(ZOO) > 30
