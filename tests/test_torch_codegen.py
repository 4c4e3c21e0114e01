"""Generated source (`netspec compile --backend torch`): round trip against netspec.build, and safety."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import netspec
from netspec import ir
from netspec.frontend import zoo_dir

torch = pytest.importorskip("torch")

HERE = Path(__file__).parent
FEATURES = HERE / "specs" / "torch" / "features.net"
ZOO = {p.stem for p in Path(zoo_dir()).glob("*.net")}
HOSTILE_LABELS = HERE / "specs" / "torch" / "hostile_labels.net"
ROUND_TRIP = [FEATURES.as_posix(), HOSTILE_LABELS.as_posix()] + sorted(ZOO)


def import_source(source: str, tmp_path: Path, name: str = "generated_model"):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(name: str) -> ir.Network:
    net = netspec.load(name)
    if name.endswith(".net") or net.input_shape[0] != 3 or net.input_shape[1] == 32:
        return net
    try:  # keeps the zoo round trip fast where the architecture allows
        return netspec.load(name, input="3x64x64")
    except netspec.SpecError:  # too small for it (inception v3 needs 75x75)
        return net


def check_readable(source: str) -> None:
    """What a reader of torchvision's models expects: short lines, no unused import, no empty loop."""
    import ast

    assert max(len(line) for line in source.splitlines()) <= 150
    tree = ast.parse(source)
    imported = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names} - {"annotations"}
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert imported <= used, imported - used
    for node in ast.walk(tree):
        if isinstance(node, ast.For):
            assert not (isinstance(node.iter, ast.Tuple) and not node.iter.elts), ast.unparse(node)


@pytest.mark.parametrize("name", ROUND_TRIP, ids=lambda n: Path(n).stem)
def test_generated_source_round_trips(name, tmp_path):
    from netspec.backends.torch import build, generate_source
    from netspec.backends.torch.codegen import top_class_name

    net = load(name)
    source = generate_source(net)
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports and not any("netspec" in line for line in imports)  # torch only at run time
    check_readable(source)
    module = import_source(source, tmp_path)
    generated = getattr(module, top_class_name(net))(generator=torch.Generator().manual_seed(0))
    built = build(net, seed=0)
    assert [n for n, _ in generated.named_modules()] == [n for n, _ in built.named_modules()]
    a, b = generated.state_dict(), built.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    x = torch.randn(2, *net.input_shape)
    generated.eval(), built.eval()
    with torch.no_grad():
        torch.testing.assert_close(generated(x), built(x), rtol=0, atol=0)
    if net.side_outputs:
        generated.train(), built.train()
        torch.manual_seed(1)
        out_g = generated(x)
        torch.manual_seed(1)
        out_b = built(x)
        assert out_g._fields == out_b._fields
        for f in out_g._fields:
            torch.testing.assert_close(getattr(out_g, f), getattr(out_b, f), rtol=0, atol=0)


def classes(source: str) -> dict[str, str]:
    """class name -> its constructor's parameters, as written."""
    import re

    found = re.findall(r"^class (\w+)\(nn\.\w+\):\n    def __init__\(self(.*?)\):", source, re.M | re.S)
    return {name: " ".join(params.split()) for name, params in found}


def test_one_class_per_block_definition_with_its_parameters():
    from netspec.backends.torch import generate_source

    source = generate_source(netspec.load("resnet50"))
    # 16 bottlenecks in 4 stages: one class per block definition, written as torchvision's resnet.py is
    assert classes(source) == {
        "ResnetStem": "", "Bottleneck": ", in_channels, c, stride, width, groups",
        "BottleneckStage": ", in_channels, c, n, stride, width, groups",
        "Resnet50": ", num_classes=1000, width=64, generator: torch.Generator | None = None, "
                    "zero_init_residual: bool = False"}
    # numbers as expressions of the arguments (width moved with --set shows the bottleneck width follows it)
    assert "nn.Conv2d(c * width // 64, 4 * c, kernel_size=1, bias=False)" in source
    assert "])) if in_channels != 4 * c else None" in source  # the projection only where the calls have one
    assert "identity = x if self.residual1.shortcut is None else self.residual1.shortcut(x)" in source
    assert "out += identity" in source  # the residual written out
    assert "for i in range(n - 1):" in source  # the repeat is a loop
    assert "self.fc = nn.Linear(2048, num_classes)" in source  # the network's parameter reaches the layer

    source = generate_source(netspec.load("densenet121"))
    assert classes(source) == {
        "DensenetStem": ", k", "DenseBlock": ", in_channels, n, k, bn_size", "Transition": ", in_channels",
        "DensenetHead": ", in_channels, num_classes",
        "Densenet121": ", num_classes=1000, k=32, bn_size=4, generator: torch.Generator | None = None, "
                       "zero_init_residual: bool = False"}
    assert "nn.BatchNorm2d(in_channels + i * k)" in source  # layer i of a dense block sees i * k more channels
    assert "for layer in self.dense1.children():" in source


def test_a_number_that_fits_no_expression_becomes_an_argument(tmp_path):
    from netspec.backends.torch import build, generate_source

    spec = tmp_path / "odd.net"
    spec.write_text("network odd\ninput 3x8x8\nblock b(c) { conv3-{c} conv1-5 }\n"
                    "b(4) b(6) b(4)\n".replace("conv1-5", "conv1-{c + c * c}"))
    net = netspec.load(spec)
    source = generate_source(net)
    # c + c*c is not among the forms tried: the class takes the number, each call passes its own
    assert classes(source)["B"] == ", in_channels, c, conv2_out_channels"
    module = import_source(source, tmp_path, "odd_model")
    generated = module.Odd(generator=torch.Generator().manual_seed(0))
    built = build(net, seed=0)
    assert list(generated.state_dict()) == list(built.state_dict())
    for (name, a), b in zip(generated.state_dict().items(), built.state_dict().values()):
        assert torch.equal(a, b), name


def test_labels_that_clash_are_renamed_as_build_renames_them():
    from netspec.backends.torch import build, generate_source

    net = netspec.load(HOSTILE_LABELS)
    model = build(net, seed=0)
    names = [n for n, _ in model.named_modules()]
    # a module may not shadow a method of the class that holds it, nor be name-mangled away
    assert "reset_parameters_" in names and "training_" in names and "__foo.residual1.body.forward_" in names
    assert model.module_at("reset_parameters") is model.reset_parameters_
    source = generate_source(net)
    assert "self.get_submodule('__foo')(x)" in source  # never `self.__foo`, which Python would mangle
    assert "self.reset_parameters_ = nn.Conv2d(" in source


def hostile_network() -> ir.Network:
    from test_torch_ir import act, conv, network

    evil = "__import__('os').system('touch /tmp/netspec_pwned')"
    s = (3, 8, 8)
    c1 = conv("a'b\"c", s, 4, 3)  # quotes in a path component
    c2 = conv("forward", c1.out_shape, 4, 3)  # an nn.Module attribute name
    inner = conv("weird name\n" + evil + ".x", c2.out_shape, 4, 1, pad=(0, 0, 0, 0))
    blk = ir.Seq(path="weird name\n" + evil, in_shape=c2.out_shape, out_shape=inner.out_shape,
                 children=(inner, act("weird name\n" + evil + ".relu", inner.out_shape)), block=evil + '"""')
    c3 = conv("0", blk.out_shape, 4, 1, pad=(0, 0, 0, 0))  # numeric, like nn.Sequential's
    kw = conv("class", c3.out_shape, 4, 1, pad=(0, 0, 0, 0))  # a keyword
    return network(evil + '"""\n', s, c1, c2, blk, c3, kw,
                   meta={"title": '"""; import os; os.system("touch /tmp/netspec_pwned") #',
                         "note": "line one\nline two\\"})


def test_hostile_names_cannot_inject_code(tmp_path):
    from netspec.backends.torch import build, generate_source

    marker = Path("/tmp/netspec_pwned")
    marker.unlink(missing_ok=True)
    net = hostile_network()
    source = generate_source(net)
    module = import_source(source, tmp_path, "hostile_model")
    assert not marker.exists()
    assert module.SPEC_META == dict(net.meta)  # strings survive exactly, as data
    top = [v for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, torch.nn.Module)
           and v.__module__ == module.__name__][-1]
    generated = top(generator=torch.Generator().manual_seed(0))
    built = build(net, seed=0)
    assert [n for n, _ in generated.named_modules()] == [n for n, _ in built.named_modules()]
    x = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(generated.eval()(x), built.eval()(x), rtol=0, atol=0)
    assert not marker.exists()
    # every class name in the file is a plain identifier
    for line in source.splitlines():
        if line.startswith("class "):
            assert line[6:line.index("(")].isidentifier()


def cli(argv, monkeypatch, capsys):
    """The real `netspec` entry point, with only the commands this file tests registered."""
    from netspec import cli as cli_module

    monkeypatch.setattr(cli_module, "COMMANDS", ("compile", "export"))
    code = cli_module.main(argv)
    return code, capsys.readouterr().err


def test_compile_command_writes_atomically(tmp_path, monkeypatch, capsys):
    out = tmp_path / "model.py"
    code, err = cli(["compile", str(FEATURES), "--backend", "torch", "-o", str(out)], monkeypatch, capsys)
    assert code == 0, err
    assert out.exists() and "class Features(nn.Module):" in out.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]  # no temp file left behind
    # a spec error: located message, no traceback, and the old file is untouched
    bad = tmp_path / "bad.net"
    bad.write_text("network bad\ninput 3x8x8\nconv3-8 fc-\n")
    code, err = cli(["compile", str(bad), "-o", str(out)], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in err and "bad.net:3:" in err
    assert "class Features(nn.Module):" in out.read_text()
    code, err = cli(["compile", str(FEATURES), "--class-name", "import os", "-o", str(out)], monkeypatch, capsys)
    assert code == 2 and "not a Python identifier" in err
