"""Block libraries checked on their own (`netspec lint specs/lib/`): imports resolved, definitions checked."""

from __future__ import annotations

import pytest

import netspec


def write(path, text):
    path.write_text(text)
    return path


def test_a_library_that_imports_another_checks_clean_and_its_blocks_are_usable(tmp_path):
    write(tmp_path / "base.net", "block unit(c) { conv3-{c} bn relu }\n")
    lib = write(tmp_path / "stage.net", 'import "base.net"\nblock stage(c) { unit(c) unit(c) }\n')
    netspec.frontend.check(lib.read_text(), str(lib))  # a library: checked, not elaborated
    net = netspec.parse(f'network t\ninput 3x8x8\nimport "{lib}"\nstage(4) gap fc-2\n', str(tmp_path / "t.net"))
    # two units of conv + bn + relu, each conv without bias before its bn: 4*3*9 + 4*4*9, bn 2*4 each
    assert net.body.children[0].block == "stage"
    assert netspec.analysis.analyze(net).trainable_params == 4 * 3 * 9 + 4 * 4 * 9 + 2 * (2 * 4) + 4 * 2 + 2


def test_a_library_importing_a_missing_file_is_an_error_at_the_import(tmp_path):
    lib = write(tmp_path / "stage.net", 'import "nope.net"\nblock stage(c) { conv3-{c} }\n')
    with pytest.raises(netspec.SpecError) as info:
        netspec.frontend.check(lib.read_text(), str(lib))
    d = info.value.diagnostics[0]
    assert d.message == 'cannot find the imported file "nope.net"' and d.span.line == 1
