"""`netspec lint PATH...`: parse and shape-check specs, verify their `expect` lines, run the design lints.

Exit status: 0 when every spec is clean, 1 on any error (or any warning with --strict),
2 on a usage error. `--update` rewrites `expect` lines to the current figures, a snapshot
workflow: a change in a model shows up as a diff of its spec in review.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from .common import spec_files, whole_number

FORMATS = ("text", "json", "github")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "lint", help="check specs: parse, shapes, expect lines, design lints",
        description="Check .net files and folders of them: parse, shape-check, every `expect` line, and "
                    "the design lints. Exit 0 when clean, 1 on errors (or warnings with --strict), 2 on "
                    "a usage error.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="spec files, or folders searched for *.net")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default), json, or github (workflow annotations)")
    p.add_argument("--strict", action="store_true", help="fail (exit 1) on warnings too")
    p.add_argument("--update", action="store_true",
                   help="rewrite each spec's expect lines to the current figures (adds missing ones)")
    p.add_argument("--disable", action="append", default=[], metavar="ID",
                   help="switch a design lint off (repeatable, or comma-separated)")
    p.add_argument("--list", action="store_true", help="list the design lints and exit")
    p.add_argument("--jobs", "-j", type=whole_number(0), default=0, metavar="N",
                   help="check files in N processes (default: one per CPU; 1 checks them in this process)")
    from ..limits import add_options

    add_options(p)
    p.set_defaults(run=run)


@dataclass
class Result:
    path: str
    diagnostics: list = field(default_factory=list)
    sources: dict = field(default_factory=dict)
    updated: bool = False
    changes: list = field(default_factory=list)  # "params 1 -> 93322", "output (added) 10"


def _usage(message: str) -> int:
    from ..diagnostics import EXIT_USAGE

    print(f"netspec lint: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def check_file(path: Path, disable: set[str], update: bool) -> Result:
    """Every diagnostic for one spec file; with `update`, its expect lines rewritten first."""
    from ..analysis.expect import changes, updated_text
    from ..checks import check_text
    from ..diagnostics import SpecError
    from ..files import write_atomic
    from ..sources import read_spec_text

    result = Result(str(path))
    try:
        text = read_spec_text(path)
    except SpecError as err:
        result.diagnostics += err.diagnostics
        result.sources.update(err.sources)
        return result
    checked = check_text(text, str(path), disable)
    if update and checked.network is not None:
        new = updated_text(text, checked.network, checked.analysis)
        if new != text:
            write_atomic(path, new)
            result.updated = True
            result.changes = [str(c) for c in changes(checked.network, checked.analysis)]
            checked = check_text(new, str(path), disable)  # spans of the rewritten file
    result.diagnostics += checked.diagnostics
    result.sources.update(checked.sources)
    return result


def check_files(files: list[Path], disable: set[str], update: bool, jobs: int = 0) -> list[Result]:
    """`check_file` of each file, in their order; spread over processes where that pays (several files,
    several CPUs, and fork, which hands each worker the imports already made: a spawned one would pay
    them again)."""
    import multiprocessing

    from ..limits import current
    from ..machine import usable_cpus

    jobs = min(jobs or usable_cpus(), len(files) // _FILES_PER_JOB)
    if jobs < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [check_file(f, disable, update) for f in files]
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(partial(_check_file_under, current(), disable=disable, update=update), files))


_FILES_PER_JOB = 4  # below this a worker costs more than it saves


def _check_file_under(limits, path: Path, **options) -> Result:
    """check_file in a worker process, under the parent's limits (a context variable does not cross)."""
    from ..limits import using

    with using(limits):
        return check_file(path, **options)


def run(args) -> int:
    from ..analysis.lints import LINTS
    from ..diagnostics import EXIT_OK, EXIT_SPEC_ERROR, did_you_mean

    if args.list:
        width = max(len(k) for k in LINTS)
        for lint in LINTS.values():
            print(f"{lint.id:<{width}}  {lint.summary}")
        return EXIT_OK
    if not args.paths:
        return _usage("give at least one spec file or folder (e.g. `netspec lint specs/`)")
    disable = {d.strip() for item in args.disable for d in item.split(",") if d.strip()}
    for name in sorted(disable - set(LINTS)):
        hint = did_you_mean(name, LINTS) or f"known ids: {', '.join(LINTS)}"
        return _usage(f"--disable {name}: no lint has this id; {hint}")
    try:
        files = spec_files(args.paths, zoo_names=True)
    except FileNotFoundError as exc:
        return _usage(str(exc))
    missing = next((f for f in files if not f.exists()), None)
    if missing is not None:
        return _usage(f"no such file or folder: {missing}")

    results = check_files(files, disable, args.update, args.jobs)
    errors = sum(d.level == "error" for r in results for d in r.diagnostics)
    warnings = sum(d.level == "warning" for r in results for d in r.diagnostics)
    print(_RENDER[args.format](results, errors, warnings))
    failed = errors > 0 or (args.strict and warnings > 0)
    return EXIT_SPEC_ERROR if failed else EXIT_OK


def _text(results, errors, warnings) -> str:
    out = []
    for r in results:
        if r.updated:
            out.append(f"{r.path}: updated expect lines: {'; '.join(r.changes)}")
        out += [d.render(r.sources) + "\n" for d in r.diagnostics]  # a blank line between findings
    n = len(results)
    out.append(f"{n} spec{'s' if n != 1 else ''} checked: {errors} error{'s' if errors != 1 else ''}, "
               f"{warnings} warning{'s' if warnings != 1 else ''}")
    return "\n".join(out)


def _where(d, path: str) -> dict:
    s = d.span
    if s is None:
        return {"file": path, "line": None, "column": None, "end_line": None, "end_column": None}
    return {"file": s.file, "line": s.line, "column": s.column, "end_line": s.end_line, "end_column": s.end_column}


def _json(results, errors, warnings) -> str:
    import json

    files = [{
        "path": r.path,
        "updated": r.updated,
        "changes": r.changes,
        "diagnostics": [{"level": d.level, "code": d.code, "message": d.message, **_where(d, r.path),
                         "help": d.help, "notes": list(d.notes)} for d in r.diagnostics],
    } for r in results]
    return json.dumps({"files": files, "errors": errors, "warnings": warnings}, indent=2)


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _github(results, errors, warnings) -> str:
    """GitHub Actions workflow commands: each diagnostic becomes an annotation on the spec's line."""
    out = []
    for r in results:
        for d in r.diagnostics:
            w = _where(d, r.path)
            props = [f"file={_escape_property(w['file'])}"]
            if w["line"] is not None:
                props += [f"line={w['line']}", f"col={w['column']}"]
                if w["end_line"] == w["line"]:
                    props.append(f"endColumn={w['end_column']}")
            props.append(f"title={_escape_property('netspec ' + d.code)}")
            message = d.message + (f"\nhelp: {d.help}" if d.help else "")
            out.append(f"::{d.level} {','.join(props)}::{_escape_data(message)}")
    out.append(f"netspec lint: {len(results)} specs, {errors} errors, {warnings} warnings")
    return "\n".join(out)


_RENDER = {"text": _text, "json": _json, "github": _github}
