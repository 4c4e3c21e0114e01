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
ROUND_TRIP = [FEATURES.as_posix()] + [n for n in ("resnet18", "resnet20", "resnet50", "googlenet", "inception_v3",
                                                   "densenet121", "mobilenet_v2", "squeezenet1_0", "vgg11_bn",
                                                   "se_resnet50", "alexnet", "resnext50_32x4d",
                                                   "regnet_x_400mf", "mnasnet1_0", "darknet19") if n in ZOO]
SMALL = {"resnet20": None, "inception_v3": None, "alexnet": "3x64x64"}


def import_source(source: str, tmp_path: Path, name: str = "generated_model"):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(name: str) -> ir.Network:
    if name.endswith(".net"):
        return netspec.load(name)
    return netspec.load(name, input=SMALL.get(name, "3x64x64"))


@pytest.mark.parametrize("name", ROUND_TRIP, ids=lambda n: Path(n).stem)
def test_generated_source_round_trips(name, tmp_path):
    from netspec.backends.torch import build, generate_source
    from netspec.backends.torch.codegen import top_class_name

    net = load(name)
    source = generate_source(net)
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports and not any("netspec" in line for line in imports)  # torch only at run time
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


def test_one_class_per_user_block():
    from netspec.backends.torch import generate_source

    if "resnet50" not in ZOO:
        pytest.skip("no resnet50 spec")
    source = generate_source(netspec.load("resnet50"))
    net = netspec.load("resnet50")
    blocks = {n.block for n in ir.walk(net.body) if isinstance(n, ir.Seq) and n.block}
    # every user block is a class; variants of the same block (with/without a projection) are numbered
    for block in blocks:
        from netspec.backends.torch.codegen import class_name
        assert f"class {class_name(block)}(nn.Module):" in source
    # 16 bottlenecks collapse into a handful of classes, with channels as constructor parameters
    assert source.count("class ") < 16
    assert "x += identity" in source  # the residual written out


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
