"""Pictures of a network: Graphviz diagrams (`graph`) and the self-contained HTML report (`html`).

Like the analysis, nothing here imports torch: `netspec graph` and `netspec report` run wherever
`netspec lint` does. Graphviz's `dot` is an outside program, found on PATH when a picture is wanted.
"""
