"""`netspec shard FOLDER -o DIR --size 1GB`: pack an image folder into WebDataset-style tar shards.

No torch: the packing is the standard tarfile module over the folder's listing.
"""

from __future__ import annotations

import argparse
import sys


def size(text: str) -> int:
    """argparse type of --size, so a malformed one is a usage error (exit 2)."""
    from ..shards import parse_size

    try:
        n = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if n < 4096:
        raise argparse.ArgumentTypeError(f"a shard of {n} bytes holds nothing useful; give at least 4KB")
    return n


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "shard", help="pack an image folder into tar shards for streaming and many-node training",
        description="Write the images of FOLDER (FOLDER/<class>/*.jpg, or FOLDER/train/<class>/ with "
                    "FOLDER/val/<class>/) into DIR/000000.tar, DIR/000001.tar, ... of at most --size bytes "
                    "each, in WebDataset's layout (KEY.jpg + KEY.cls), with the class names in "
                    "DIR/classes.txt. Train on them with --data 'shards:DIR/{000000..NNNNNN}.tar'.")
    p.add_argument("folder", metavar="FOLDER", help="an image folder, one sub-folder per class")
    p.add_argument("-o", "--out", metavar="DIR", required=True, help="where the shards go")
    p.add_argument("--size", type=size, default=10**9, metavar="SIZE",
                   help="largest shard: 1GB (default), 500MB, 2GiB ...")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the pattern to train with")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..diagnostics import EXIT_RUNTIME
    from ..imagefolder import FolderError, list_folder
    from ..shards import pattern_for, write_shards

    try:
        listing = list_folder(args.folder)
    except FolderError as exc:
        print(f"error: {exc}" + (f"\n  help: {exc.help}" if exc.help else ""), file=sys.stderr)
        return EXIT_RUNTIME
    try:
        paths = write_shards(listing, args.out, args.size, log=(lambda s: None) if args.quiet else print)
    except OSError as exc:
        print(f"error: cannot write shards to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_RUNTIME
    total = sum(p.stat().st_size for p in paths)
    if not args.quiet:
        print(f"{len(listing.files):,} images of {len(listing.classes)} classes in {len(paths)} shards "
              f"({total / 1e6:,.1f} MB); train with:")
    print(f"  --data 'shards:{pattern_for(paths)}'")
    return 0
