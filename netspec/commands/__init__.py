"""CLI subcommands, one module each: `add_parser(subparsers)` registers it and sets `run`."""
