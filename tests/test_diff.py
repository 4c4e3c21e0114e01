"""`netspec diff`: alignment, deltas and exit codes, on pairs of networks whose difference is known.

Every delta is checked against figures computed without the diff: `analyze` on each side, the
parameter counts torchvision publishes, or the arithmetic of the edited layers written out here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import netspec
from conftest import SPECS
from netspec.analysis import analyze
from netspec.analysis.diff import ADDED, CHANGED, MOVED, REMOVED, RENAMED, SAME, diff
from netspec.analysis.diff_report import markdown, text, to_dict
from netspec.analysis.thresholds import check, parse_rule
from netspec.cli import main

DIFF_SPECS = SPECS / "diff"


def statuses(d) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in d.walk():
        out.setdefault(c.status, []).append(c)
    return out


def by_new_path(d, path):
    return next(c for c in d.walk() if c.new is not None and c.new.path == path)


def assert_totals_match_analyses(d, old, new):
    a, b = analyze(old), analyze(new)
    assert d.totals["params"].delta == b.trainable_params - a.trainable_params
    assert d.totals["non_trainable_params"].delta == b.non_trainable_params - a.non_trainable_params
    assert d.totals["macs"].delta == b.macs - a.macs
    assert d.totals["memory"].delta == b.activation_bytes - a.activation_bytes


# ---------------------------------------------------------------- pairs that matter


def test_resnet50_against_its_resnext_edit():
    old, new = netspec.load("resnet50"), netspec.load(DIFF_SPECS / "resnext50_32x4d.net")
    d = diff(old, new)
    assert_totals_match_analyses(d, old, new)
    # torchvision's published counts: resnet50 25,557,032, resnext50_32x4d 25,028,904
    assert (d.totals["params"].old, d.totals["params"].new) == (25_557_032, 25_028_904)
    assert d.totals["params"].delta == -528_128
    # the first 3x3 of layer1, by hand: 64 -> 64 dense (64*64*9) becomes 128 -> 128 in 32 groups (128*4*9)
    conv = by_new_path(d, "layer1.grouped_bottleneck1.residual1.body.conv2")
    assert conv.status == CHANGED
    assert conv.old.path == "layer1.bottleneck1.residual1.body.conv2"
    assert (conv.old.params, conv.new.params) == (64 * 64 * 9, 128 * 4 * 9)
    assert conv.old.macs == 64 * 64 * 9 * 56 * 56 and conv.new.macs == 128 * 4 * 9 * 56 * 56
    assert conv.attributes["groups"] == (1, 32)
    # nothing is added or removed: every layer of resnet50 has its counterpart
    s = statuses(d)
    assert ADDED not in s and REMOVED not in s
    assert sum(1 for c in d.walk() if c.new is not None) == len(analyze(new).rows)


def test_densenet121_against_densenet169():
    old, new = netspec.load("densenet121"), netspec.load("densenet169")
    d = diff(old, new)
    assert_totals_match_analyses(d, old, new)
    added = [c.new.path for c in statuses(d)[ADDED]]
    # blocks 3 and 4 grow from 24 and 16 layers to 32 and 32: layers 25..32 and 17..32 are new
    assert added == ([f"denseblock3.dense1.layer{i}" for i in range(25, 33)]
                     + [f"denseblock4.dense1.layer{i}" for i in range(17, 33)])
    # a dense layer of k=32, bn_size=4 on c input channels: bn(c) + conv1x1 c->128 + bn(128) + conv3x3 128->32
    c0 = 256  # denseblock3's input: (128 + 12*32) / 2 channels after transition2
    by_hand = sum(2 * c + 128 * c + 256 + 128 * 32 * 9 for c in (c0 + 32 * (i - 1) for i in range(25, 33)))
    got = sum(c.new.params for c in statuses(d)[ADDED][:8])  # trainable; bn's running stats not counted
    assert got == by_hand
    # the 24 layers both have are unchanged; the transition after them reads 1280 channels, not 1024
    assert all(by_new_path(d, f"denseblock3.dense1.layer{i}").status == SAME for i in range(1, 25))
    assert by_new_path(d, "transition3.conv1").attributes["in_channels"] == (1024, 1280)


def test_vgg16_against_vgg16_bn():
    old, new = netspec.load("vgg16"), netspec.load("vgg16_bn")
    d = diff(old, new)
    assert_totals_match_analyses(d, old, new)
    added = statuses(d)[ADDED]
    assert [c.new.kind for c in added] == ["batchnorm"] * 13  # one after each of the 13 convs
    # 2 weights per channel (scale, shift) and 2 running statistics, over the channels of the 13 convs
    channels = 64 * 2 + 128 * 2 + 256 * 3 + 512 * 3 + 512 * 3
    assert d.totals["params"].delta == 2 * channels == 8448
    assert d.totals["non_trainable_params"].delta == 2 * channels
    assert d.totals["macs"].delta == 0
    convs = [c for c in d.walk() if c.row.kind == "conv"]
    assert len(convs) == 13 and all(c.status == SAME for c in convs)


def test_width_change_with_set():
    old, new = netspec.load("resnet50"), netspec.load("resnet50", params={"width": 128})
    d = diff(old, new)
    assert_totals_match_analyses(d, old, new)
    # torchvision's wide_resnet50_2 (width_per_group 128): 68,883,240 parameters
    assert d.totals["params"].new == 68_883_240
    # the layer1 3x3 doubles both ways: 64*64*9 -> 128*128*9
    conv = by_new_path(d, "layer1.bottleneck1.residual1.body.conv2")
    assert (conv.old.params, conv.new.params) == (64 * 64 * 9, 128 * 128 * 9)
    assert conv.old.path == conv.new.path  # aligned by scope path
    assert "parameter width: 64 → 128" in text(d)


RENAME_OLD = """
network small(num_classes=10)
input 3x32x32
block unit(c, stride=1) {
  residual { conv3-{c}/{stride} bn relu conv3-{c} bn }
  relu
}
stem: conv3-16 bn relu
stage1: { unit(16) unit(16) }
stage2: { unit(32, 2) unit(32) }
gap
fc-{num_classes}
"""


def test_block_renamed_without_structural_change_reports_no_change_in_figures(tmp_path):
    renamed = (RENAME_OLD.replace("block unit(", "block basic_unit(").replace("unit(16)", "basic_unit(16)")
               .replace("unit(32", "basic_unit(32").replace("stage2:", "second:"))
    old, new = netspec.parse(RENAME_OLD, "old.net"), netspec.parse(renamed, "new.net")
    d = diff(old, new)
    assert not d.changed and not d.empty
    assert all(delta.delta in (0, None) and not delta.changed for delta in d.totals.values())
    s = statuses(d)
    assert set(s) <= {SAME, RENAMED}
    assert [c.new.path for c in s[RENAMED]] == ["stage1.basic_unit1", "stage1.basic_unit2", "second",
                                               "second.basic_unit1", "second.basic_unit2"]
    assert by_new_path(d, "stage1.basic_unit1").attributes == {"block": ("unit", "basic_unit")}
    assert "no change in figures" in text(d)
    (tmp_path / "old.net").write_text(RENAME_OLD)
    (tmp_path / "new.net").write_text(renamed)
    rules = "params>+0%,params<-0%,macs>+0,macs<-0,memory>+0,memory<-0,rf>+0,rf<-0"
    assert main(["diff", str(tmp_path / "old.net"), str(tmp_path / "new.net"), "--fail-on", rules]) == 0


def test_stride_moved_from_the_1x1_to_the_3x3():
    old, new = netspec.load("resnet50"), netspec.load(DIFF_SPECS / "resnet50_v1.net")
    d = diff(old, new)
    assert_totals_match_analyses(d, old, new)
    assert d.totals["params"].delta == 0 and d.totals["non_trainable_params"].delta == 0
    # the first 1x1 of each subsampling block now runs at the lower resolution; the 3x3 after it
    # costs the same either way (stride 2 on 56x56 and stride 1 on 28x28 both give 28x28)
    by_hand = sum(c * cin * (hw // 2) ** 2 - c * cin * hw ** 2
                  for c, cin, hw in ((128, 256, 56), (256, 512, 28), (512, 1024, 14)))
    assert d.totals["macs"].delta == by_hand
    conv1 = by_new_path(d, "layer2.bottleneck_v11.residual1.body.conv1")
    conv2 = by_new_path(d, "layer2.bottleneck_v11.residual1.body.conv2")
    assert (conv1.old.op, conv1.new.op) == ("conv1-128", "conv1-128/2")
    assert (conv2.old.op, conv2.new.op) == ("conv3-128/2", "conv3-128")
    assert (conv1.old.out_shape, conv1.new.out_shape) == ((128, 56, 56), (128, 28, 28))
    assert conv1.old.params == conv1.new.params and conv2.old.params == conv2.new.params
    assert conv2.status == CHANGED and conv2.attributes["stride"] == ((2, 2), (1, 1))
    # layer1 has no stride to move: only its names differ
    assert by_new_path(d, "layer1").status == RENAMED


def test_a_spec_against_itself_is_an_empty_diff(capsys):
    d = diff(netspec.load("resnet152"), netspec.load("resnet152"))
    assert d.empty and not d.changed
    assert all(c.status == SAME for c in d.walk())
    assert main(["diff", "resnet50", "resnet50"]) == 0
    assert "no change" in capsys.readouterr().out
    assert main(["diff", "resnet50", "resnet50", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["empty"] and doc["changes"] == [] and doc["totals"]["params"]["delta"] == 0
    # the README's CI job skips the specs whose comment says this
    assert "No change in layers" in markdown(d)


def test_diff_never_imports_torch():
    code = ("import sys; from netspec.cli import main; "
            "assert main(['diff', 'resnet50', 'resnet101', '--format', 'markdown']) == 0; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_more_repeats_are_added_blocks():
    old, new = netspec.load("resnet50"), netspec.load("resnet101")
    d = diff(old, new)
    assert_totals_match_analyses(d, old, new)
    assert [c.new.path for c in statuses(d)[ADDED]] == [f"layer3.bottleneck{i}" for i in range(7, 24)]
    # 17 more identical bottlenecks of layer3: each as much as resnet50's layer3.bottleneck2
    one = next(r for r in analyze(old).rows if r.path == "layer3.bottleneck2")
    assert d.totals["params"].delta == 17 * one.params
    listing = text(d)
    assert "layer3.bottleneck7 … bottleneck23" in listing and "17 × bottleneck(256, stride=1, width=64, groups=1)" in listing
    # resnet's stage is one subsampling block and n - 1 repeated ones: n 6 -> 23 repeats 5 -> 22
    assert "bottleneck_stage(n 6 → 23), [bottleneck(256, stride=1, width=64, groups=1)] x5 → x22" in listing


MOVE_OLD = """
network m
input 3x32x32
block extra { conv3-16 bn relu conv3-16 bn relu }
block first { conv3-16 relu extra }
block second { conv3-32 relu }
s1: first
s2: second
gap fc-10
"""


def test_a_block_moved_to_another_scope_is_a_move():
    new_text = (MOVE_OLD.replace("block first { conv3-16 relu extra }", "block first { conv3-16 relu }")
                .replace("block second { conv3-32 relu }", "block second { extra conv3-32 relu }"))
    old, new = netspec.parse(MOVE_OLD, "old.net"), netspec.parse(new_text, "new.net")
    d = diff(old, new)
    s = statuses(d)
    assert [(c.old.path, c.new.path) for c in s[MOVED]] == [("s1.extra1", "s2.extra1")]
    assert ADDED not in s and REMOVED not in s
    assert d.totals["params"].delta == 0
    assert "moved from s1.extra1" in text(d)


def chain(pairs: int, inserts=()) -> str:
    """A flat network of `pairs` conv + relu pairs, with a conv + bn + relu inserted before each index in `inserts`."""
    body = ["conv3-16 relu"] * pairs
    for k in sorted(inserts, reverse=True):
        body.insert(k, "conv3-16 bn relu")
    return "network chain\ninput 3x16x16\n" + "\n".join(body) + "\ngap fc-10\n"


@pytest.mark.parametrize("pairs", [20, 400])  # 400 pairs: over 250,000 cells, the linear alignment
def test_layers_inserted_into_a_long_chain_are_the_only_additions(pairs):
    inserts = (3, pairs - 4)
    old, new = netspec.parse(chain(pairs), "old.net"), netspec.parse(chain(pairs, inserts), "new.net")
    d = diff(old, new)
    assert_totals_match_analyses(d, old, new)
    s = statuses(d)
    assert sorted(c.new.kind for c in s[ADDED]) == sorted(["conv", "batchnorm", "activation"] * 2)
    assert REMOVED not in s and CHANGED not in s
    # the layers after an insertion keep their structure: only their automatic names shift
    assert all(c.old.path != c.new.path for c in s[RENAMED])
    assert len(s[SAME]) + len(s[RENAMED]) == len(analyze(old).rows)


# ---------------------------------------------------------------- reports


def test_json_document_is_what_docs_describe(capsys):
    assert main(["diff", "vgg16", "vgg16_bn", "--format", "json", "--fail-on", "params>+1%"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"version", "old", "new", "changed", "empty", "counts", "totals", "stages", "changes", "checks"}
    assert doc["old"]["network"] == "vgg16" and doc["new"]["network"] == "vgg16_bn"
    assert doc["totals"]["params"] == {"old": 138_357_544, "new": 138_365_992, "delta": 8448,
                                       "percent": pytest.approx(100 * 8448 / 138_357_544)}
    assert doc["counts"]["added"] == 13
    bn = next(c for c in doc["changes"] if c["new_path"] == "features.stage1.bn1")
    assert bn["status"] == "added" and bn["old_path"] is None and bn["params"]["new"] == 128
    assert [s["new_path"] for s in doc["stages"]] == ["features", "classifier"]
    assert doc["checks"] == [{"rule": "params>+1%", "metric": "params", "mode": "relative", "limit": 1.0,
                              "observed": pytest.approx(100 * 8448 / 138_357_544), "crossed": False}]


def test_markdown_has_a_headline_a_table_and_folded_details():
    d = diff(netspec.load("resnet50"), netspec.load("resnet101"))
    md = markdown(d)
    lines = md.splitlines()
    assert lines[0].startswith("### netspec diff:")
    assert lines[2].startswith("**params +18,992,128 (+74.31%)**")
    assert "| **total** |" in md
    assert "<details><summary>Changes: 17 added, 1 changed</summary>" in md and md.rstrip().endswith("</details>")


def test_depth_limits_the_listing():
    d = diff(netspec.load("resnet50"), netspec.load(DIFF_SPECS / "resnext50_32x4d.net"))
    shallow = to_dict(d, depth=1)["changes"]
    assert shallow and all(c["depth"] == 1 for c in shallow)
    assert max(c["depth"] for c in to_dict(d)["changes"]) == 4


# ---------------------------------------------------------------- --fail-on


@pytest.mark.parametrize("rule, crossed", [
    ("params>+5%", True), ("params>+75%", False), ("params<-1%", False),
    ("macs>+3G", True), ("macs>+4G", False), ("params>40M", True), ("params>50M", False),
    ("memory>+50MB", True), ("memory>+60MB", False), ("rf<500", False), ("rf>900", True),
])
def test_fail_on_rules(rule, crossed):
    d = diff(netspec.load("resnet50"), netspec.load("resnet101"))
    # resnet50 -> resnet101: params +74.31% (44.55 M), MACs +3.71 G, activations +54.59 MB, RF 427 -> 971
    assert check(parse_rule(rule), d).crossed is crossed


def test_fail_on_exit_codes(capsys):
    assert main(["diff", "resnet50", "resnet101", "--fail-on", "params>+5%"]) == 1
    assert "crossed `params>+5%`: params +74.31%" in capsys.readouterr().err
    assert main(["diff", "resnet50", "resnet101", "--fail-on", "params>+80%", "--fail-on", "macs<-1%"]) == 0
    with pytest.raises(SystemExit) as exc:
        main(["diff", "resnet50", "resnet101", "--fail-on", "flops>+5%"])
    assert exc.value.code == 2
    assert "METRIC" in capsys.readouterr().err


def test_fail_on_a_figure_the_input_leaves_open_is_a_failed_check(tmp_path, capsys):
    spec = tmp_path / "fcn.net"
    spec.write_text("network fcn\ninput 3xHxW\nconv3-8 relu conv3-8/2\n")
    assert main(["diff", str(spec), str(spec), "--fail-on", "macs>+1%"]) == 1
    assert "cannot check `macs>+1%`" in capsys.readouterr().err
    assert main(["diff", str(spec), str(spec), "--input", "3x64x64", "--fail-on", "macs>+1%"]) == 0


def test_usage_errors_and_spec_errors(tmp_path, cli):
    assert cli("diff", "resnet50").returncode == 2
    assert cli("diff", "resnet50", "resnet101", "--git", "HEAD").returncode == 2
    bad = tmp_path / "bad.net"
    bad.write_text("network bad\ninput 3x32x32\nconvv3-64\n")
    done = cli("diff", "resnet50", str(bad))
    assert done.returncode == 1 and "convv3-64" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------- --git


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                   check=True, capture_output=True)


NET = """network tiny
input 3x32x32
import "lib/blocks.net"
body: unit(16)
gap fc-10
"""
LIB = "block unit(c) { conv3-{c} bn relu conv3-{c} bn relu }\n"


def test_git_reads_the_spec_and_its_imports_at_a_revision(tmp_path, cli):
    (tmp_path / "lib").mkdir()
    (tmp_path / "net.net").write_text(NET)
    (tmp_path / "lib" / "blocks.net").write_text(LIB)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "first")
    # only the imported file changes in the work tree: the old side must read it at HEAD
    (tmp_path / "lib" / "blocks.net").write_text(LIB.replace("relu conv3-{c}", "relu conv3-{2 * c}"))
    done = cli("diff", "net.net", "--git", "HEAD", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    old = netspec.parse(NET.replace('import "lib/blocks.net"', LIB), "old.net")
    new = netspec.load(tmp_path / "net.net")
    assert doc["old"]["source"] == "HEAD:net.net"
    assert doc["totals"]["params"]["old"] == analyze(old).trainable_params
    assert doc["totals"]["params"]["delta"] == analyze(new).trainable_params - analyze(old).trainable_params
    conv2 = next(c for c in doc["changes"] if c["new_path"] == "body.conv2")
    assert (conv2["old_op"], conv2["new_op"]) == ("conv3-16", "conv3-32")
    # the same revision on both sides: nothing changed
    git(tmp_path, "commit", "-qam", "wider")
    assert "no change" in cli("diff", "net.net", "--git", "HEAD", cwd=tmp_path).stdout


def test_git_errors(tmp_path, cli):
    (tmp_path / "net.net").write_text(NET.replace('import "lib/blocks.net"', LIB))
    done = cli("diff", "net.net", "--git", "HEAD", cwd=tmp_path)
    assert done.returncode == 3 and "not in a git repository" in done.stderr
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "first")
    assert cli("diff", "net.net", "--git", "no-such-rev", cwd=tmp_path).returncode == 3
    (tmp_path / "later.net").write_text(NET.replace('import "lib/blocks.net"', LIB))
    done = cli("diff", "later.net", "--git", "HEAD", cwd=tmp_path)
    assert done.returncode == 3 and "does not exist at revision HEAD" in done.stderr
    # an error in the old version names it REV:PATH and shows its line
    (tmp_path / "net.net").write_text(NET.replace('import "lib/blocks.net"', LIB).replace("unit(16)", "unitt(16)"))
    git(tmp_path, "commit", "-qam", "typo")
    (tmp_path / "net.net").write_text(NET.replace('import "lib/blocks.net"', LIB))
    done = cli("diff", "net.net", "--git", "HEAD", cwd=tmp_path)
    assert done.returncode == 1 and "HEAD:net.net:5:7" in done.stderr and "unitt(16)" in done.stderr
    # an import missing at the revision is named as it was looked for there, not in a temporary folder
    (tmp_path / "net.net").write_text(NET)
    git(tmp_path, "commit", "-qam", "import")
    done = cli("diff", "net.net", "--git", "HEAD", cwd=tmp_path)
    assert done.returncode == 1 and "looked in HEAD:" in done.stderr and "netspec-rev-" not in done.stderr
