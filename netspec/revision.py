"""A spec as it was at a git revision, with the files it imports as they were then.

`netspec diff SPEC --git REV` compares a spec with its own past. The spec and, following its
`import` lines, every file it imports from the same repository are read with `git show REV:PATH`
and laid out in a temporary folder as they sit in the repository, so that the elaborator resolves
imports exactly as it would have at REV. An import that did not exist in the repository at REV
falls back to the zoo, as any import does. Messages name the files `REV:PATH`.
"""

from __future__ import annotations

import dataclasses
import posixpath
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping

from .diagnostics import SpecError
from .ir import Network


class RevisionError(Exception):
    """The revision, the repository or the file cannot be read: a missing resource (exit 3)."""


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise RevisionError("git is not installed (needed by --git)") from None


def _show(rev: str, rel: str, top: Path) -> bytes | None:
    done = _git(["show", f"{rev}:{rel}"], top)
    return done.stdout if done.returncode == 0 else None


def repository_of(path: Path) -> tuple[Path, str]:
    """The top folder of the git work tree holding `path`, and `path` relative to it (with /)."""
    path = path.resolve()
    done = _git(["rev-parse", "--show-toplevel"], path.parent if path.parent.is_dir() else Path.cwd())
    if done.returncode != 0:
        raise RevisionError(f"{path} is not in a git repository")
    top = Path(done.stdout.decode().strip()).resolve()
    try:
        return top, path.relative_to(top).as_posix()
    except ValueError:
        raise RevisionError(f"{path} is outside the git repository at {top}") from None


def _imports(data: bytes, name: str) -> list[str]:
    """The import paths written in a file; none when it does not parse (load reports that)."""
    from . import syntax
    from .parser import parse_tree

    try:
        tree = parse_tree(data.decode("utf-8"), name)
    except (SpecError, UnicodeDecodeError):
        return []
    return [st.path for st in tree.statements if isinstance(st, syntax.ImportDecl)]


def materialize(path: Path, rev: str, into: Path) -> tuple[Path, dict[str, str]]:
    """Write the spec at `rev` and what it imports under `into`; return the spec's copy and a map
    from each copy's path to its name in messages (`REV:specs/lib/resnet.net`)."""
    if rev.startswith("-"):  # would read as an option of git show
        raise RevisionError(f"not a revision: {rev!r}")
    top, rel = repository_of(path)
    if _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top).returncode != 0:
        raise RevisionError(f"unknown git revision {rev!r} in {top}")
    names: dict[str, str] = {}
    queue, seen = [rel], set()
    while queue:
        current = queue.pop()
        if current in seen:
            continue
        seen.add(current)
        data = _show(rev, current, top)
        if data is None:
            if current == rel:
                raise RevisionError(f"{rel} does not exist at revision {rev}")
            continue  # not in the repository then: the elaborator looks in the zoo, as it always does
        copy = into / current
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(data)
        names[str(copy)] = f"{rev}:{current}"
        for imported in _imports(data, names[str(copy)]):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(current), imported))
            if not target.startswith("../") and target != "..":
                queue.append(target)
    return into / rel, names


def _renamed(err: SpecError, names: Mapping[str, str], folder: Path, rev: str) -> SpecError:
    """The same error with the temporary copies called by their `REV:PATH` names."""

    def span(s):
        return s if s is None or s.file not in names else s.model_copy(update={"file": names[s.file]})

    def words(text):  # "looked in /tmp/netspec-rev-x/specs" -> "looked in HEAD:specs"
        return text if text is None else text.replace(f"{folder}/", f"{rev}:").replace(str(folder), f"{rev}:")

    diagnostics = [dataclasses.replace(d, message=words(d.message), help=words(d.help), span=span(d.span),
                                       notes=tuple(map(words, d.notes)),
                                       labels=tuple(dataclasses.replace(lb, span=span(lb.span)) for lb in d.labels))
                   for d in err.diagnostics]
    sources = {names.get(k, k): v for k, v in err.sources.items()}
    for copy, name in names.items():  # the copies are gone when the error is printed
        sources.setdefault(name, Path(copy).read_text(encoding="utf-8", errors="replace"))
    return SpecError(diagnostics, sources)


def load_at(path: str | Path, rev: str, *, params: Mapping[str, Any] | None = None,
            input: str | tuple | None = None) -> Network:
    """`netspec.load` of a spec (a path or a zoo name) as it was at git revision `rev`."""
    from .frontend import load
    from .sources import read_spec_text, resolve_spec_path

    spec = resolve_spec_path(path)
    read_spec_text(spec)  # a spec missing from the work tree is the error every command gives (exit 1)
    with tempfile.TemporaryDirectory(prefix="netspec-rev-") as tmp:
        folder = Path(tmp).resolve()
        copy, names = materialize(spec, rev, folder)
        try:
            network = load(copy, params=params, input=input)
        except SpecError as err:
            raise _renamed(err, names, folder, rev) from None
    return network.model_copy(update={"source": names[str(copy)]})
