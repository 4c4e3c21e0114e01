"""Where spec text comes from: the zoo folder, a spec named by path or by zoo name, reading a file,
and which files an `import` may read.

Its own module so that the elaborator (imports) and the front end both read files through it
without importing each other. Specs may come from strangers (a pull request linted in CI), so a
file is read only if it is a regular file (never a device, a FIFO or a folder: opened without
blocking, checked with fstat), only up to the size limit (checked before reading), and an import
only from the allowed roots (SECURITY.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .diagnostics import Span, error
from .limits import current, env_import_path

MAX_SPEC_BYTES = 8 * 1024 * 1024  # the default of Limits.max_spec_bytes: a spec is a page of text


def zoo_dir() -> Path:
    """The folder of the bundled zoo specs (specs/ in a checkout, netspec/specs when installed)."""
    from . import specs

    return Path(specs.__file__).parent


def resolve_spec_path(path: str | Path) -> Path:
    p = Path(path)
    if p.exists() or p.suffix == ".net" or len(p.parts) > 1:
        return p
    zoo = zoo_dir() / f"{p.name}.net"
    return zoo if zoo.exists() else p


def read_spec_text(path: Path, where: Span | None = None) -> str:
    """The text of a spec file, or a located SpecError for one that is missing, special, binary or huge.

    `where` is the `import` line that asked for it, if any: errors are reported there.
    """
    whole = Span.model_construct(file=str(path), line=1, column=1, end_line=1, end_column=1)
    limit = current().max_spec_bytes
    try:
        # O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error(f"no such spec file: {path}", where, code="io",
                    help="give a path to a .net file, or the name of a zoo spec such as `resnet50`") from None
    except IsADirectoryError:
        raise error(f"{path} is a folder, not a spec file", where, code="io") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}", where, code="io") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{path} is a folder, not a spec file", where, code="io")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path} is not a regular file (a device, a FIFO or a socket); a spec is a text file",
                        where, code="io")
        if info.st_size > limit:
            raise current().refuse("max_spec_bytes", f"{path} is {info.st_size:,} bytes, more than a spec may be",
                                   where or whole, code="io")
        chunks, size = [], 0
        while size <= limit:  # bounded even if the file grows while it is read
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}", where, code="io") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise current().refuse("max_spec_bytes", f"{path} grew past the size a spec may be", where or whole, code="io")
    if b"\x00" in data:
        raise error(f"{path} is a binary file, not .net text", where or whole, code="io")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text (bad byte at offset {exc.start})", where or whole,
                    code="io") from None


def import_roots(importing: str) -> list[Path]:
    """The folders an import written in `importing` may read from: that file's folder (and below),
    the zoo, then --import-path and NETSPEC_PATH. Text without a file imports from the current folder."""
    base = Path(importing).parent if not importing.startswith("<") else Path.cwd()
    extra = [Path(p) for p in (*current().import_path, *env_import_path())]
    return [base, zoo_dir(), *extra]


def find_import(name: str, importing: str, where: Span) -> Path:
    """The file `import "name"` in file `importing` reads, resolved (links followed) and inside an
    allowed root; otherwise a located error that names no content of any other file."""
    wanted = Path(name)
    roots = import_roots(importing)
    escaped = False
    for root in roots:
        try:
            real_root = root.resolve()
            candidate = (root / wanted).resolve()  # links followed: a link out of the root escapes too
        except (OSError, RuntimeError):  # a link loop
            continue
        if not candidate.is_relative_to(real_root):
            escaped = True
        elif os.path.lexists(candidate):
            return _importable(candidate, name, where)
    shown = ", ".join(str(r) for r in roots[:2]) + (f" and {len(roots) - 2} more" if len(roots) > 2 else "")
    if escaped:
        raise error(f"the import \"{_short(name)}\" reaches outside the folders imports may read", where,
                    code="import", help="import files beside the spec (or below it) or from the zoo; name "
                                        "another folder with --import-path DIR or NETSPEC_PATH",
                    notes=(f"allowed: {shown}",))
    raise error(f"cannot find the imported file \"{_short(name)}\"", where, code="import",
                help=f"looked in {shown}")


def _importable(path: Path, name: str, where: Span) -> Path:
    """Only a regular .net file is read: importing `.env` or `id_rsa` from the project's folder must
    not show its first line in a syntax error."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = False
    if not regular:
        raise error(f"the imported \"{_short(name)}\" is not a regular file (a device, a FIFO, a folder)",
                    where, code="import")
    if path.suffix != ".net":
        raise error(f"an imported file is a .net spec, not \"{_short(name)}\"", where, code="import")
    return path


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = ["find_import", "import_roots", "read_spec_text", "resolve_spec_path", "zoo_dir"]
