"""Kernel source from the templates: one jinja2 environment, strict about missing variables.

Templates are Triton code with Jinja only where a compile-time choice changes the code (which
activation, whether there is a bias or a residual, how many output slices). Everything else a kernel
needs is a `tl.constexpr` argument or a runtime argument, given at the launch in model.py.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2


def _fail(message: str):
    raise jinja2.TemplateError(message)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("netspec.backends.triton", "templates"),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, autoescape=False)
    env.globals["raise"] = _fail
    return env


def render(template: str, **switches) -> str:
    """The source of one kernel: `template` (a file in templates/) with its compile-time switches."""
    return environment().get_template(template).render(**switches)
