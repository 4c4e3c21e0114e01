"""The Triton backend against the torch backend, on the CPU under Triton's interpreter.

Every comparison builds the torch backend's model (random weights, batch-norm statistics and affine
parameters randomised so folding is exercised), hands its state_dict to the Triton backend, and runs
both on a fresh random input. The Triton arena is poisoned with NaN before each run, so a kernel that
reads a slot nothing wrote fails the comparison. conftest.py switches the interpreter on before any
test imports triton.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.resources import files

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

import netspec  # noqa: E402
from netspec import ir  # noqa: E402
from netspec.backends.triton import optimize, report  # noqa: E402
from netspec.backends.triton.plan import make_plan  # noqa: E402

@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    """Generated kernel folders go to a temporary cache, not the user's (subprocesses inherit it)."""
    old = os.environ.get("NETSPEC_CACHE_DIR")
    os.environ["NETSPEC_CACHE_DIR"] = str(tmp_path_factory.mktemp("netspec-cache"))
    yield
    if old is None:
        os.environ.pop("NETSPEC_CACHE_DIR", None)
    else:
        os.environ["NETSPEC_CACHE_DIR"] = old


TOLERANCE = {"float32": 1e-4, "bfloat16": 2e-2, "float16": 2e-2}


def reference(spec, input=None):
    model = netspec.build(spec, seed=0, input=input).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)
    return model


def relative_error(got, want):
    return ((got.float() - want.float()).norm() / want.float().norm()).item()


def compare(spec, batch=2, dtype="float32", input=None):
    ref = reference(spec, input)
    model = netspec.build(spec, backend="triton", weights=ref.state_dict(), dtype=dtype, input=input)
    model.poison = True
    shape = model.network.input_shape
    x = torch.randn(batch, *shape)  # fresh every run: the global RNG is not seeded
    got = model(x)
    with torch.no_grad():
        want = ref(x)
    assert got.shape == want.shape
    assert torch.isfinite(got.float()).all(), "a kernel read memory nothing wrote (NaN poison)"
    err = relative_error(got, want)
    assert err < TOLERANCE[dtype], f"relative error {err:.2e}"
    return model


def net(body: str, input: str = "8x11x13") -> str:
    return f"network t\ninput {input}\n{body}\n"


# ------------------------------------------------------------------ per template

CONVS = {
    "3x3 same": "conv3-24 relu",
    "stride 2, odd size": "conv3-20/2 relu",
    "7x7 stride 2 pad 3": "conv7-16/2(pad=3)",
    "even kernel: asymmetric same padding": "conv2-12 relu",
    "1x4 asymmetric": "conv1x4-10",
    "5x3 no padding": "conv5x3-9(pad=valid)",
    "dilation 2": "conv3-16(dilation=2)",
    "groups 2": "conv3-16(groups=2)",
    "groups 4, stride 2": "conv3-24/2(groups=4) relu",
    "depthwise": "dwconv3 relu6",
    "depthwise stride 2 dilation 2": "dwconv3/2(dilation=2) bn relu6",
    "1x1 gemm, channels past a tile": "conv1-200 bn relu",
    "1x1 stride 2": "conv1-16/2",
    "fc on a flattened map": "conv3-4 fc-10",
    "fc chain": "gap fc-33 relu fc-7",
    "bias off + bn": "conv3-16(bias=false) bn",
}


@pytest.mark.parametrize("body", CONVS.values(), ids=CONVS.keys())
def test_conv_and_gemm_templates(body):
    compare(net(body))


ACTIVATIONS = ["relu", "relu6", "leaky_relu(0.2)", "elu(0.7)", "selu", "sigmoid", "tanh", "hardswish",
               "hardsigmoid", "silu", "gelu", "identity"]


@pytest.mark.parametrize("fn", ACTIVATIONS)
def test_every_activation_in_the_epilogue_and_on_its_own(fn):
    model = compare(net(f"conv3-12 {fn} maxpool2 {fn}", "5x10x10"))
    first = model.launches[0]
    assert [n.kind for n in first.covers][:1] == ["conv"]
    if fn != "identity":
        assert first.kernel.epilogue.act == fn.split("(")[0]


POOLS = {
    "max 3/2 ceil": "maxpool3/2(ceil=true)",
    "max 3/1 pad 1": "maxpool3/1(pad=1)",
    "avg 3/2 pad 1 count pad": "avgpool3/2(pad=1)",
    "avg 3/2 pad 1 ceil no count pad": "avgpool3/2(pad=1, ceil=true, count_include_pad=false)",
    "avg 2": "avgpool2",
    "global avg": "gap",
    "global max": "gmp",
    "adaptive 3": "adaptive_avgpool-3",
    "adaptive max 4": "adaptive_maxpool-4",
}


@pytest.mark.parametrize("body", POOLS.values(), ids=POOLS.keys())
def test_pooling(body):
    compare(net(body, "12x11x13"))


OTHERS = {
    "lrn": "lrn(5) conv1-8",
    "lrn size 3 on many channels": "conv1-70 lrn(3)",
    "softmax over channels": "conv1-9 softmax",
    "softmax on a vector": "gap fc-37 softmax",
    "prelu per channel": "conv3-6 prelu(channels=true)",
    "prelu shared": "conv3-6 prelu",
    "upsample nearest": "upsample(2)",
    "upsample bilinear": "conv1-5 upsample(2, mode=bilinear)",
    "dropout is a view": "conv3-6 dropout(0.3) conv3-6",
    "bn on its own": "maxpool2 bn relu",
}


@pytest.mark.parametrize("body", OTHERS.values(), ids=OTHERS.keys())
def test_other_kernels(body):
    compare(net(body))


def test_channel_pad_option_a():
    compare("network t\ninput 6x8x8\nimport \"lib/resnet.net\"\ncifar_stage(12, 1, 2)\n")


def test_gate_squeeze_excitation():
    compare(net("conv1-16 gate { gap fc-4 relu fc-16 sigmoid } relu"))


def test_gate_takes_the_residual_add_after_it():
    model = compare(net("conv1-16 residual { conv3-16 bn relu gate { gap fc-4 relu fc-16 sigmoid } } relu"))
    gate = next(k for k in model.launches if k.kernel.step.op == "mul")
    assert gate.kernel.epilogue.residual is not None and gate.kernel.epilogue.post_act == "relu"
    assert not any(k.kernel.step.op == "add" for k in model.launches)


def test_concat_branches_write_their_slices():
    spec = net("conv1-8 concat { conv3-5 relu | conv1-7 | maxpool3/1(pad=1) conv1-3 } conv1-6")
    model = compare(spec)
    plan = make_plan(optimize(model.network))
    cat = next(s for s in plan.graph.steps if s.op == "concat")
    out = plan.location(cat.output)
    offsets = [plan.location(v) for v in cat.inputs]
    assert [(loc.slot, loc.offset) for loc in offsets] == [(out.slot, 0), (out.slot, 5), (out.slot, 12)]
    assert all(k.step.op != "copy" for k in plan.kernels)  # no concat kernel, no copies


def test_residual_epilogue_identity_and_projection():
    spec = net("conv3-8 residual { conv3-8 bn relu conv3-8 bn } relu residual { conv3-16/2 bn relu conv3-16 bn } relu")
    model = compare(spec)
    fused = [k for k in model.launches if k.kernel.epilogue.residual is not None]
    assert len(fused) == 2
    assert all(k.kernel.epilogue.post_act == "relu" for k in fused)


def test_fused_1x1_stem_splits_into_branch_slots():
    spec = net("concat { conv1-8 relu | conv1-6 relu conv3-10 relu | conv1-4 relu conv5-4 relu | maxpool3/1(pad=1) conv1-5 relu }")
    model = compare(spec)
    stem = next(k for k in model.launches if isinstance(k.kernel.node, ir.FusedConv))
    assert len(stem.kernel.outputs) == 3  # one GEMM, three destinations
    plan = make_plan(optimize(model.network))
    cat = next(s for s in plan.graph.steps if s.op == "concat")
    first = plan.location(cat.inputs[0])  # branch 1 is the stem's first slice: written into the concat
    assert (first.slot, first.offset) == (plan.location(cat.output).slot, 0)


def test_dense_block_is_one_buffer():
    spec = net("conv3-8 dense(3) { bn relu conv1-16 bn relu conv3-4 } bn relu conv1-6", "3x9x9")
    model = compare(spec)
    plan = make_plan(optimize(model.network))
    buffers = [s for s in plan.graph.steps if s.op == "buffer"]
    assert len(buffers) == 1
    slot = buffers[0].output
    writers = [k for k in plan.kernels if plan.location(k.output).slot == slot]
    assert len(writers) == 4  # the input copy and three layers, each into its own channels
    assert sorted(plan.location(k.output).offset for k in writers) == [0, 8, 12, 16]
    prologue = [k for k in plan.kernels if k.prologue]
    assert prologue, "the BN-ReLU before each 1x1 conv is applied as the GEMM's prologue"


def test_memory_plan_reuses_slots_without_overlap():
    plan = make_plan(optimize(netspec.load("resnet18", input="3x64x64")))
    slots = list(plan.slots.values())
    assert plan.arena < sum(s.size for s in slots) / 2  # memory is reused
    # never below what is alive at once at the busiest kernel
    peak = max(sum(s.size for s in slots if s.first <= i <= s.last) for i in range(len(plan.kernels)))
    assert peak <= plan.arena
    for i, a in enumerate(slots):
        for b in slots[i + 1:]:
            if a.first <= b.last and b.first <= a.last:  # alive together: disjoint memory
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_storage(dtype):
    compare(net("conv3-16 bn relu residual { conv3-16 bn relu conv3-16 bn } relu concat { conv1-8 | conv3-4 } "
                "bn relu conv1-8 gap fc-10"), dtype=dtype)


def test_nested_concats_and_operands_that_must_be_copied():
    # the inner concat sits in a slice of the outer one; the identity branch is the block's input (a
    # value the concat cannot place), and @a is read by two concats: both get a copy kernel
    spec = net("conv1-6 @a concat { conv1-4 concat { conv1-3 | conv3-2 } | identity | conv1-5 } "
               "concat(@a) conv1-7 concat(@a)")
    model = compare(spec)
    plan = make_plan(optimize(model.network))
    copies = [k for k in plan.kernels if k.step.op == "copy"]
    assert len(copies) == 2
    outer = [s for s in plan.graph.steps if s.op == "concat"][1]
    inner_out = plan.location(outer.inputs[0])
    assert (inner_out.slot, inner_out.offset) == (plan.location(outer.output).slot, 0)


# ------------------------------------------------------------------ whole networks

NETWORKS = [
    ("lenet5", None),
    ("resnet18", "3x64x64"),
    ("mobilenet_v2", "3x64x64"),
    pytest.param("densenet121", "3x64x64", marks=pytest.mark.slow),
    pytest.param("googlenet", "3x96x96", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name,input", NETWORKS)
def test_zoo_network_matches_torch(name, input):
    compare(name, batch=1, input=input)


@pytest.mark.parametrize("name,input", [("lenet5", None), pytest.param("resnet18", "3x64x64", marks=pytest.mark.slow)])
def test_zoo_network_bfloat16(name, input):
    compare(name, batch=1, dtype="bfloat16", input=input)


# ------------------------------------------------------------------ compile, report, interpreter switch


def test_compile_writes_a_runnable_folder(cli, tmp_path):
    out = tmp_path / "lenet"
    result = cli("compile", "lenet5", "--backend", "triton", "-o", str(out))
    assert result.returncode == 0, result.stderr
    kernels = sorted(p.name for p in (out / "kernels").iterdir())
    assert kernels and all(p.endswith(".py") for p in kernels)
    source = (out / "model.py").read_text()
    assert "netspec" not in source.split('"""', 2)[2].replace("netspec's autotuner", "")  # torch and triton only
    # run it standalone with the torch backend's weights, in a fresh interpreter process
    ref = reference("lenet5")
    model = netspec.build("lenet5", backend="triton", weights=ref.state_dict())
    weights = {name: t.cpu() for name, t in model.program.w.items()}
    torch.save(weights, tmp_path / "w.pt")
    x = torch.randn(3, 1, 32, 32)
    torch.save(x, tmp_path / "x.pt")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, str(out / "model.py"), "--weights", str(tmp_path / "w.pt"), "--input",
                          str(tmp_path / "x.pt"), "--output", str(tmp_path / "y.pt")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    with torch.no_grad():
        want = ref(x)
    assert relative_error(torch.load(tmp_path / "y.pt"), want) < 1e-4


def test_report_maps_every_kernel_to_spec_lines(cli):
    result = cli("compile", "googlenet", "--backend", "triton", "--report")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    plan = make_plan(optimize(netspec.load("googlenet")))
    assert text.count("covers") == len(plan.kernels)
    for line in (ln for ln in text.splitlines() if ln.strip().startswith("covers")):
        assert "googlenet.net:" in line
    assert "split into 3 slices" in text  # inception's fused 1x1 convs
    assert "stopped   pooling runs on its own" in text
    leaves = {n.path for n in ir.layers(optimize(netspec.load("googlenet")).body)
              if n.kind not in ("dropout", "flatten", "save", "merge")}
    side = {n.path for n in ir.walk(netspec.load("googlenet").body) if isinstance(n, ir.Side)}
    missing = [p for p in leaves if f"{p} (" not in text and not any(p.startswith(s + ".") for s in side)]
    assert not missing, missing[:5]


def test_report_is_for_triton_only(cli):
    result = cli("compile", "lenet5", "--report")
    assert result.returncode == 2
    assert "--report is for the triton backend" in result.stderr


def fresh_python(code: str) -> subprocess.CompletedProcess:
    """`python -c code` in a new process whose environment does not switch the interpreter on."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_interpreter_must_be_on_before_triton_is_imported():
    out = fresh_python("import triton\n"
                       "from netspec.backends.triton.loader import InterpreterError, use_interpreter\n"
                       "try:\n    use_interpreter()\nexcept InterpreterError as e:\n    print('refused:', e)\n")
    assert "refused: triton was imported without its interpreter" in out.stdout, out.stderr


def test_build_without_device_uses_the_interpreter_in_a_fresh_process():
    out = fresh_python("import torch, netspec, sys\n"
                       "m = netspec.build('network t\\ninput 3x8x8\\nconv3-4 relu gap fc-3', backend='triton')\n"
                       "print(m(torch.randn(2, 3, 8, 8)).shape, 'triton' in sys.modules)\n")
    assert "torch.Size([2, 3]) True" in out.stdout, out.stderr


def test_report_figures_are_the_analysis_figures():
    from netspec.analysis import analyze

    text = report("resnet18")
    total = text.rsplit("total: ", 1)[1].split(" MACs")[0]
    macs = analyze(netspec.load("resnet18")).macs
    assert total == f"{macs / 1e9:.2f}G"


# ------------------------------------------------------------------ bench


def test_bench_times_torch_on_the_cpu_and_says_triton_needs_a_gpu(cli):
    result = cli("bench", "lenet5", "--backend", "torch", "--batch", "2", "--iters", "3", "--warmup", "1",
                 "--format", "json")
    assert result.returncode == 0, result.stderr
    data = __import__("json").loads(result.stdout)
    (row,) = data["results"]
    assert row["backend"] == "torch" and row["median_ms"] > 0
    assert abs(row["images_per_s"] - 2 / row["median_ms"] * 1e3) < 1e-6 * row["images_per_s"]
    result = cli("bench", "lenet5", "--backend", "triton", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "needs a GPU" in result.stdout


def test_bench_command_does_not_import_torch_at_module_level():
    code = "import sys, netspec.commands.bench, netspec.cli; netspec.cli.build_parser(); " \
           "assert 'torch' not in sys.modules and 'triton' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cache_directory_follows_xdg_and_netspec_cache_dir(monkeypatch, tmp_path):
    from netspec.backends.triton.cache import cache_dir

    monkeypatch.delenv("NETSPEC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "netspec"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "netspec"
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_a_build_is_generated_once_into_the_cache():
    from netspec.backends.triton.cache import cache_dir

    first = netspec.build("lenet5", backend="triton")
    assert first.folder.parent == cache_dir() / "triton" and (first.folder / "model.py").exists()
    stamp = (first.folder / "model.py").stat().st_mtime_ns
    second = netspec.build("lenet5", backend="triton", seed=3)  # other weights, same code
    assert second.folder == first.folder and (first.folder / "model.py").stat().st_mtime_ns == stamp


ZOO = sorted(p.name[:-4] for p in files("netspec.specs").iterdir() if p.name.endswith(".net"))


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_spec_compiles_and_its_kernels_count_every_mac(name):
    from netspec.analysis import analyze
    from netspec.backends.triton.codegen import launches

    from netspec.backends import BackendError
    from netspec.backends.triton.plan import UNSUPPORTED

    network = netspec.load(name)
    missing = {n.kind for n in ir.layers(network.body)} & set(UNSUPPORTED)
    if missing:  # ConvNeXt, ShuffleNet, U-Net: refused up front, naming a layer kind it has no kernel for
        with pytest.raises(BackendError, match="the triton backend does not support `(" + "|".join(missing) + ")` yet"):
            make_plan(optimize(network))
        return
    plan = make_plan(optimize(network))
    items = launches(plan)
    # the kernels' MACs, from their own launch geometry, are the analysis's figure for the network
    assert sum(launch.macs for launch in items) == analyze(network).macs
    # every kernel writes memory the plan gave it, inside the arena
    for k in plan.kernels:
        for value, lo, hi in k.outputs:
            loc = plan.location(value)
            slot = plan.slots[loc.slot]
            assert slot.first <= k.index <= slot.last
            assert slot.offset + slot.size <= plan.arena
            assert loc.offset + (hi - lo) <= loc.row_stride
