"""Static analysis of a network from its IR alone: no torch, no model built, nothing run.

    >>> import netspec
    >>> from netspec.analysis import analyze
    >>> a = analyze(netspec.parse("network t\\ninput 1x28x28\\nconv3-8(pad=valid) flatten fc-10"))
    >>> a.trainable_params, a.macs
    (54170, 59616)

`analyze` is the one entry point; `lint` runs the design lints and `check_expects` the
`expect` lines. The figures and their conventions are documented in docs/ANALYSIS.md.
"""

from __future__ import annotations

from .core import Analysis, Row, analyze

__all__ = ["Analysis", "Row", "analyze", "check_expects", "lint"]


def lint(network, analysis=None, disable=()):
    """The design-lint warnings for a network (Diagnostics), minus those switched off."""
    from .lints import run_lints

    return run_lints(network, analysis or analyze(network), disable)


def check_expects(network, analysis=None):
    """An error Diagnostic for every `expect` line the analysis contradicts."""
    from .expect import check

    return check(network, analysis or analyze(network))
