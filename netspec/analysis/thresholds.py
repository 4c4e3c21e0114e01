"""`--fail-on` rules of `netspec diff`: limits on what a change may do to a network, for CI.

A rule is METRIC OP VALUE:

    params>+5%      the trainable parameters grow by more than 5%
    macs<-10%       the MACs shrink by more than 10%
    memory>+20MB    the activation memory grows by more than 20 MB (a signed value is a change)
    params>30M      the new network has more than 30 M parameters (an unsigned value is a bound)
    rf<200          the new network's receptive field is under 200 pixels

METRIC is params (trainable), macs, memory (activation bytes, forward, one sample) or rf (the
receptive field at the head, the larger side). VALUE takes the suffixes K, M, G, T (powers of
1000, so 20MB and 20M are the same number of bytes); a relative value (%) is always a change.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from .diff import NetworkDiff

METRICS = ("params", "macs", "memory", "rf")
WORDS = {"params": "params", "macs": "MACs", "memory": "activation memory", "rf": "receptive field"}
SCALE = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}

_RULE = re.compile(r"^\s*(?P<metric>[a-z]+)\s*(?P<op>[<>])\s*(?P<sign>[+-])?\s*(?P<number>\d+(?:\.\d+)?)"
                   r"\s*(?P<scale>[kKMGT]?)(?:B)?\s*(?P<percent>%?)\s*$")


@dataclass(frozen=True)
class Rule:
    text: str  # as written
    metric: str  # params, macs, memory, rf
    op: str  # ">" or "<"
    value: float  # the limit: a percentage, a signed change, or a bound
    mode: str  # "relative" (percent change), "change" (absolute change) or "bound" (the new figure)


@dataclass(frozen=True)
class Check:
    rule: Rule
    observed: float | None  # the percent change, change or new figure the rule reads; None: unknown
    crossed: bool | None  # None: the figure is unknown (a symbolic input size)

    def to_dict(self) -> dict:
        observed = self.observed
        if isinstance(observed, float) and observed in (float("inf"), float("-inf")):
            observed = None
        return {"rule": self.rule.text, "metric": self.rule.metric, "mode": self.rule.mode,
                "limit": self.rule.value, "observed": observed, "crossed": self.crossed}

    def message(self) -> str:
        r = self.rule
        if self.crossed is None:
            return f"cannot check `{r.text}`: the {WORDS[r.metric]} of a network is unknown (give --input)"
        if r.mode == "relative":
            seen = "new" if self.observed in (float("inf"), float("-inf")) else f"{self.observed:+.2f}%"
        elif r.mode == "change":
            seen = f"{self.observed:+,g}"
        else:
            seen = f"{self.observed:,g}"
        return f"{'crossed' if self.crossed else 'within'} `{r.text}`: {WORDS[r.metric]} {seen}"


def parse_rule(text: str) -> Rule:
    m = _RULE.match(text)
    if m is None or m["metric"] not in METRICS:
        raise ValueError(f"expected METRIC>VALUE or METRIC<VALUE with METRIC one of {', '.join(METRICS)} "
                         f"(e.g. params>+5%, macs<-10%, memory>+20MB, params>30M), got {text!r}")
    number = float(m["number"]) * SCALE[m["scale"].upper()]
    if m["sign"] == "-":
        number = -number
    mode = "relative" if m["percent"] else "change" if m["sign"] else "bound"
    return Rule(text.strip(), m["metric"], m["op"], number, mode)


def rules(text: str) -> list[Rule]:
    """argparse type of --fail-on: one rule or several separated by commas; a bad one is a usage error."""
    try:
        return [parse_rule(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def check(rule: Rule, d: NetworkDiff) -> Check:
    delta = d.totals[rule.metric]
    observed = {"relative": delta.percent, "change": delta.delta, "bound": delta.new}[rule.mode]
    if observed is None:
        return Check(rule, None, None)
    observed = float(observed)
    crossed = observed > rule.value if rule.op == ">" else observed < rule.value
    return Check(rule, observed, crossed)
