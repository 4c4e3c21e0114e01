"""`netspec report`: the HTML page's content, without a browser (test_report_browser.py opens it in one).

The page is parsed with the standard library's HTMLParser; every figure checked is computed by
hand in a comment, or read off the file the test writes.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import re
from html.parser import HTMLParser

import pytest

import netspec
from netspec.analysis import analyze
from netspec.analysis.lints import run_lints
from netspec.render import html as page_html
from netspec.render.html import report

from conftest import SPECS, run_cli


class Page(HTMLParser):
    """Elements by id, table rows in order, and every URL the page refers to."""

    def __init__(self, text: str):
        super().__init__()
        self.ids: dict[str, dict] = {}
        self.rows: list[dict] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids[a["id"]] = {"tag": tag, **a}
        if tag == "tr" and "data-depth" in a:
            self.rows.append(a)
        for key in ("src", "href", "xlink:href", "action", "data"):
            if a.get(key):
                self.urls.append(a[key])


def build(name_or_path, **kw) -> tuple[str, netspec.Network]:
    network = netspec.load(name_or_path, **kw)
    analysis = analyze(network)
    return report(network, analysis, run_lints(network, analysis)), network


def test_self_contained():
    text, _ = build("googlenet")
    page = Page(text)
    # every reference stays inside the page: fragment links, or data: URIs
    assert page.urls and all(u.startswith(("#", "data:")) for u in page.urls), \
        [u for u in page.urls if not u.startswith(("#", "data:"))]
    assert "link" not in page.tags and "iframe" not in page.tags
    assert "default-src 'none'" in text  # the browser refuses any request the page might try
    assert not re.search(r"url\(\s*['\"]?(?!data:)", text)  # no stylesheet fetches either


def test_table_rows_and_parents():
    text, network = build("resnet50")
    page = Page(text)
    analysis = analyze(network)
    assert len(page.rows) == len(analysis.rows)
    top = [r for r in page.rows if not r["data-parent"]]
    # stem, layer1..layer4, gap, the flatten inserted before fc, fc
    assert len(top) == 8 and all("hidden" not in r for r in top)
    assert all("hidden" in r for r in page.rows if r["data-parent"])  # folded at first
    layer1 = top[1]["id"]
    kids = [r for r in page.rows if r["data-parent"] == layer1]
    assert len(kids) == 3  # bottleneck_stage(64, 3): three bottlenecks
    grandkids = [r for r in page.rows if r["data-parent"] == kids[0]["id"]]
    assert [r["data-depth"] for r in grandkids] == ["3", "3"]  # the residual and the relu after it


def test_totals_and_rows_read_the_figures():
    text, _ = build("resnet50")
    assert "25,557,032 (25.56 M)" in text  # the published parameter count
    assert "4.09 G" in text
    assert "427/32 at gap1" in text


def test_block_rows_link_to_their_call_lines():
    text, network = build("densenet121")
    page = Page(text)
    lines = (SPECS.parent.parent / "specs" / "densenet121.net").read_text().splitlines()
    # denseblock3 is called on the line that says so, in the spec itself (not in lib/densenet.net)
    match = re.search(r'<span class="rowname">denseblock3</span>.*?<a href="#(s0-L(\d+))">', text, re.S)
    assert match and lines[int(match.group(2)) - 1].startswith("denseblock3: dense_block(24")
    assert match.group(1) in page.ids
    listed = re.search(rf'id="{match.group(1)}">([^<]*)<', text).group(1)
    assert listed.startswith("denseblock3: dense_block(24")


def test_lint_findings_link_to_rows_and_back():
    path = SPECS / "lints" / "bias-before-bn.bad.net"  # conv3-16(bias=true) bn relu, on line 3
    text, _ = build(path)
    page = Page(text)
    finding = page.ids["lint0"]
    assert finding["tag"] == "li"
    body = re.search(r'<li id="lint0">(.*?)</li>', text, re.S).group(1)
    assert "bias-before-bn" in body
    (row,) = re.findall(r'href="#(r\d+)"', body)
    row_html = re.search(rf'<tr id="{row}".*?</tr>', text, re.S).group(0)
    assert 'href="#lint0"' in row_html and ">conv3-16<" in row_html
    assert 'href="#s0-L3"' in row_html


def test_vgg_classifier_holds_most_parameters():
    text, _ = build("vgg16")
    chart = re.search(r'aria-label="parameters per stage">(.*?)</svg>', text, re.S).group(1)
    bars = re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"[^>]*><title>([^<]*)</title>', chart)
    widest = max(bars, key=lambda b: float(b[0]))[1]
    # fc-4096 on 512x7x7, fc-4096, fc-1000, with biases
    fc = (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert widest.endswith(f": {fc:,}")


def test_without_graphviz_the_page_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(page_html, "layout", _no_dot)
    text, _ = build("lenet5")
    assert "apt-get install graphviz" in text and "<svg" in text  # the charts are still there


def _no_dot(text, fmt):
    from netspec.render.layout import INSTALL_HINT, DotMissing

    raise DotMissing(INSTALL_HINT)


# ---------------------------------------------------------------- a training run folder


def fake_run(folder, rows, confusion: bytes | None = None, note: str = ""):
    folder.mkdir()
    spec = (SPECS.parent.parent / "specs" / "lenet5.net").read_text()
    (folder / "spec.net").write_text(note + spec)
    head = "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_top5,images_per_s,seconds\n"
    (folder / "metrics.csv").write_text(head + "".join(
        f"{e},0.01,{tl},{ta},{vl},{va},1,1000,1.5\n" for e, tl, ta, vl, va in rows))
    if confusion is not None:
        (folder / "confusion.png").write_bytes(confusion)


def test_run_folder_report(tmp_path):
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    run = tmp_path / "lenet5"
    fake_run(run, [(1, 2.0, 0.40, 1.5, 0.55), (2, 1.0, 0.80, 0.9, 0.91), (3, 0.5, 0.95, 0.8, 0.88)], png,
             note="# trained with --set num_classes=7\n")
    out = tmp_path / "report.html"
    done = run_cli("report", str(run), "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "3 epochs in" in text
    assert "<strong>88.00%</strong> after the last epoch" in text  # epoch 3's held-out accuracy
    assert "best <strong>91.00%</strong> after epoch 2" in text
    assert "data:image/png;base64," + base64.b64encode(png).decode() in text
    assert 'aria-label="loss per epoch"' in text and 'aria-label="accuracy per epoch"' in text
    assert ">fc-7<" in text  # the run's --set note is applied: a 7-class head


def test_run_folder_without_confusion_matrix(tmp_path):
    run = tmp_path / "run"
    fake_run(run, [(1, 2.0, 0.4, 1.5, 0.5)])
    out = tmp_path / "r.html"
    assert run_cli("report", str(run), "-o", str(out)).returncode == 0
    text = out.read_text()
    assert "<img" not in text
    assert "1 epoch in" in text and "best <strong>50.00%</strong> after epoch 1" in text


def test_run_folder_with_a_damaged_metrics_file(tmp_path):
    run = tmp_path / "run"
    fake_run(run, [(1, 2.0, 0.4, 1.5, 0.5), (2, 1.0, 0.8, "oops", 0.75)])
    with open(run / "metrics.csv", "a") as fh:
        fh.write("3,0.01,0.5\n")  # a line cut short
    out = tmp_path / "r.html"
    done = run_cli("report", str(run), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "best <strong>75.00%</strong> after epoch 2" in out.read_text()


def test_report_cli_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_cli("report", str(empty), "-o", str(tmp_path / "x.html"))
    assert done.returncode == 3 and "spec.net" in done.stderr and "Traceback" not in done.stderr
    bad = tmp_path / "bad.net"
    bad.write_text("network bad\ninput 3x32x32\nconvv3-64\n")
    done = run_cli("report", str(bad), "-o", str(tmp_path / "x.html"))
    assert done.returncode == 1 and "bad.net:3:1" in done.stderr


ZOO = sorted(p.stem for p in (SPECS.parent.parent / "specs").glob("*.net"))


@pytest.mark.parametrize("name", ZOO)
def test_report_on_every_zoo_spec(name):
    text, network = build(name)
    assert f"<title>{network.name}: netspec report</title>" in text
    assert len(Page(text).rows) == len(analyze(network).rows)


def test_field_steps_follow_the_main_path():
    # GoogLeNet by hand: conv7/2 -> 7 (stride 2); maxpool3/2 -> 7 + 2*2 = 11 (stride 4); conv1 -> 11;
    # conv3 -> 11 + 2*4 = 19; maxpool3/2 -> 19 + 2*4 = 27 (stride 8); inception 3a, whose widest
    # branch ends in a 3x3 conv -> 27 + 2*8 = 43: one step for the whole module
    steps = page_html.field_steps(analyze(netspec.load("googlenet")))
    assert [r.field.size[0] for r in steps[:12]] == [7, 7, 7, 11, 11, 11, 11, 19, 19, 19, 27, 43]
    assert steps[11].kind == "concat"
    for name in ("resnet50", "densenet121", "inception_v3", "mobilenet_v2"):
        sizes = [r.field.size[0] for r in page_html.field_steps(analyze(netspec.load(name)))]
        assert sizes == sorted(sizes), name  # along one path the field never shrinks


def test_pictures_do_not_import_torch(tmp_path):
    # graph and report run wherever lint does: a fresh process draws and reports without torch
    code = ("import sys; from netspec.cli import main; "
            f"main(['graph', 'resnet18', '-o', {str(tmp_path / 'g.dot')!r}]); "
            f"main(['report', 'googlenet', '-o', {str(tmp_path / 'r.html')!r}]); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.html").stat().st_size > 10_000
