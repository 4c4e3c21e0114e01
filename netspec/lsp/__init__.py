"""`netspec lsp`: a language server for .net specs (stdio JSON-RPC, built on pygls).

    server.py      the server: one handler per LSP request, each a few lines over the modules below
    documents.py   an open document checked as `netspec lint` checks a file (netspec.checks), kept
                   with its syntax tree, IR, analysis and span index; open imports stand in for disk
    ranges.py      netspec's 1-based spans <-> LSP's 0-based ranges in the client's code units
    problems.py    netspec diagnostics as LSP diagnostics (findings in imported files at the import)
    index.py       the analysis rows by source span: what stands at a position, the shape of a line
    syntax_at.py   the syntax tree under a position (layers, labels, imports, block definitions)
    imports.py     the library files a spec imports, transitively, parsed once per version
    hover.py       shape, params, MACs and receptive field of a layer, block call or label
    hints.py       one inlay hint per line: the shape that line outputs
    definition.py  go to a block's definition or an imported file
    completion.py  layer words (and aliases), blocks in scope, keyword arguments with defaults
    fixes.py       a quick fix for each diagnostic with a `did you mean`

Nothing here imports torch: the server runs where only the front end is installed (plus pygls).
"""
