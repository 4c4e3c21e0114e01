"""The front end's promises: no torch on the lint path, JSON round trip, wheel-free resources."""

from __future__ import annotations

import json
import subprocess
import sys

import netspec
from netspec import ir
from conftest import SPECS


def fresh_python(code: str) -> str:
    """What `code` prints, run in a new interpreter from the repository root (nothing imported or built yet)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=SPECS.parent.parent)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_loading_a_spec_does_not_import_torch():
    fresh_python("import netspec, sys; netspec.load('tests/specs/constructs/composition.net'); "
                 "netspec.format(open('tests/specs/constructs/layers.net').read()); "
                 "assert 'torch' not in sys.modules, 'torch was imported'")


def test_ir_round_trips_through_json():
    net = netspec.load(SPECS / "constructs" / "composition.net")
    again = netspec.Network.model_validate_json(net.model_dump_json())
    assert again == net
    assert json.loads(net.model_dump_json())["body"]["children"][0]["kind"] == "conv"


def test_a_fresh_process_dumps_the_ir_first_thing():
    # model classes build their serializers on demand; a composite's children are dumped with their own
    # classes' serializers, which must exist even when nothing else has used them yet in the process
    out = fresh_python("import json, netspec; net = netspec.parse('network t\\ninput 3x8x8\\nresidual { conv3-3 bn } relu'); "
                       "print(json.loads(net.model_dump_json())['body']['children'][0]['body']['children'][1]['kind'], "
                       "net.model_dump()['body']['children'][1]['kind'])")
    assert out.split() == ["batchnorm", "activation"]


def test_model_construct_fills_defaults_like_pydantic():
    from pydantic import BaseModel

    for cls in (ir.Conv, ir.Residual, ir.Network, netspec.diagnostics.Span):
        required = {name: None for name, f in cls.model_fields.items() if f.is_required()}
        ours = cls.model_construct(**required)
        theirs = BaseModel.model_construct.__func__(cls, **required)
        assert ours.__dict__ == theirs.__dict__ and list(ours.__dict__) == list(theirs.__dict__), cls.__name__
        assert ours.model_fields_set == theirs.model_fields_set == set(required)
        update = {next(iter(required)): "changed"}
        copied, reference = ours.model_copy(update=update), BaseModel.model_copy(ours, update=update)
        assert copied.__dict__ == reference.__dict__ and list(copied.__dict__) == list(reference.__dict__)
        assert copied.model_fields_set == reference.model_fields_set and ours.__dict__ == theirs.__dict__


def test_ir_is_immutable():
    net = netspec.parse("network t\ninput 3x8x8\nconv3-4")
    conv = net.body.children[0]
    try:
        conv.out_channels = 5
    except Exception as exc:  # pydantic's ValidationError for frozen models
        assert "frozen" in str(exc).lower()
    else:
        raise AssertionError("IR nodes must be frozen")


def test_every_node_has_a_span_pointing_at_its_source():
    net = netspec.parse("network t\ninput 3x8x8\nconv3-4 relu\n  fc-2", filename="s.net")
    spans = {n.path: n.span for n in ir.layers(net.body)}
    assert (spans["conv1"].line, spans["conv1"].column) == (3, 1)
    assert (spans["relu1"].line, spans["relu1"].column) == (3, 9)
    assert (spans["fc1"].line, spans["fc1"].column, spans["fc1"].file) == (4, 3, "s.net")


def test_spec_hash_tracks_architecture_not_layout():
    a = netspec.parse("network t\ninput 3x8x8\nconv3-4 relu # x")
    b = netspec.parse("network t\ninput 3x8x8\n\nconv3-4\nrelu")
    c = netspec.parse("network t\ninput 3x8x8\nconv3-5 relu")
    assert a.spec_hash == b.spec_hash != c.spec_hash


def test_zoo_names_resolve_and_grammar_is_package_data():
    from importlib import resources

    assert resources.files("netspec.grammars").joinpath("netspec.lark").is_file()
    assert netspec.frontend.zoo_dir().joinpath("__init__.py").is_file()


def test_every_zoo_network_is_valid_ir():
    """The elaborator builds nodes without re-validating them; pydantic must accept all it builds."""
    from netspec.frontend import zoo_dir

    for path in sorted(zoo_dir().glob("*.net")):
        net = netspec.load(path)
        assert netspec.Network.model_validate(net.model_dump()) == net, path.name


def test_after_defaults_point_at_their_layer():
    net = netspec.parse("network t\ninput 3x8x8\ndefault conv(after=[bn relu])\n\nconv3-4\n  conv3-4",
                        filename="s.net")
    spans = [(n.path, n.span.line, n.span.column) for n in ir.layers(net.body)]
    assert spans[:3] == [("conv1", 5, 1), ("bn1", 5, 1), ("relu1", 5, 1)]
    assert spans[3][1:] == (6, 3)


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    from netspec.files import atomic_path, write_atomic

    target = tmp_path / "spec.net"
    write_atomic(target, "old\n")
    target.chmod(0o640)
    try:
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("the writer failed")
    except RuntimeError:
        pass
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["spec.net"]
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n" and target.stat().st_mode & 0o777 == 0o640  # permissions kept
