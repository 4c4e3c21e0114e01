"""The HTML report opened in a real browser: headless Chromium renders it, a probe script checks the page.

The probe is injected into a copy of the report: an early script records errors, console errors and
Content-Security-Policy violations (any attempt to load something: the page allows nothing but
inline styles, inline scripts and data: images), a late one unfolds a stage by clicking its button
and writes what it saw into the DOM, which `chromium --dump-dom` prints. Screenshots at a laptop and a
phone width are checked for size and for content. Skipped where Chromium or Graphviz is missing
(.ci/run installs both).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import netspec
from netspec.analysis import analyze
from netspec.analysis.lints import run_lints
from netspec.render.html import report

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt-get install chromium)"),
    pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot (Debian: apt-get install graphviz)"),
]

LAPTOP, PHONE = (1280, 1800), (390, 1800)

EARLY = """<script>
window.__probe = {errors: [], violations: []};
window.addEventListener("error", function (e) {
  __probe.errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || "error"));
}, true);
window.addEventListener("unhandledrejection", function (e) { __probe.errors.push("rejection: " + e.reason); });
document.addEventListener("securitypolicyviolation", function (e) {
  __probe.violations.push(e.violatedDirective + " " + e.blockedURI);
});
var __error = console.error;
console.error = function () { __probe.errors.push([].join.call(arguments, " ")); return __error.apply(console, arguments); };
</script>"""

LATE = """<script>
window.addEventListener("load", function () {
  var P = window.__probe;
  var rows = [].slice.call(document.querySelectorAll("#layer-table tbody tr"));
  var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
  P.target_shown = target ? target.getClientRects().length > 0 : null;
  function shown() {
    return rows.filter(function (r) { return r.getClientRects().length > 0; })
               .map(function (r) { return r.querySelector(".rowname").textContent; });
  }
  P.shown = shown();
  var stage = rows.filter(function (r) { return !r.getAttribute("data-parent") && r.querySelector("button.toggle"); })[0];
  P.stage = stage.querySelector(".rowname").textContent;
  stage.querySelector("button.toggle").click();
  P.expanded = shown();
  P.aria = stage.getAttribute("aria-expanded");
  stage.querySelector("button.toggle").click();
  P.folded = shown();
  P.boxes = document.querySelectorAll("#diagram svg g.node").length;
  P.resources = performance.getEntriesByType("resource").map(function (e) { return e.name; });
  P.page_width = document.documentElement.scrollWidth;
  P.view_width = window.innerWidth;
  var out = document.createElement("pre");
  out.id = "probe-result";
  out.textContent = JSON.stringify(P);
  document.body.appendChild(out);
});
</script>"""


def chromium(*args: str, profile: Path, size: tuple[int, int]) -> subprocess.CompletedProcess:
    # a fresh profile per run, and everything that would phone home switched off
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def probe(page: Path, tmp: Path, size: tuple[int, int], fragment: str = "") -> dict:
    html = page.read_text(encoding="utf-8")
    probed = tmp / f"probe-{size[0]}.html"
    probed.write_text(html.replace("<head>", "<head>\n" + EARLY, 1).replace("</body>", LATE + "\n</body>", 1),
                      encoding="utf-8")
    done = chromium("--virtual-time-budget=5000", "--dump-dom", probed.as_uri() + fragment,
                    profile=tmp / f"profile-dom-{size[0]}", size=size)
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe left no result; chromium said:\n{done.stderr[-2000:]}"
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return json.loads(text)


def screenshot(page: Path, tmp: Path, size: tuple[int, int]) -> Path:
    shot = tmp / f"shot-{size[0]}.png"
    done = chromium(f"--screenshot={shot}", page.as_uri(), profile=tmp / f"profile-shot-{size[0]}", size=size)
    assert shot.is_file(), done.stderr[-2000:]
    return shot


def check_screenshot(shot: Path, size: tuple[int, int]) -> None:
    Image = pytest.importorskip("PIL.Image")
    with Image.open(shot) as im:
        assert im.size == size
        grey = im.convert("L").histogram()
        colours = len(im.convert("RGB").getcolors(1 << 24))
    inked = sum(grey[:200]) / sum(grey)  # darker than a very light grey
    assert 0.01 < inked < 0.6, f"{shot.name}: {inked:.1%} of the pixels carry ink"
    assert colours > 100, f"{shot.name}: only {colours} colours (text is anti-aliased, boxes are filled)"


# (spec, the first foldable top-level row, the rows it unfolds to), read off the specs: googlenet's
# convs before 3a are single layers followed by their bn and relu, inception3a is a concat of 4
# branches; the resnet and densenet stems are conv7 bn relu maxpool.
CASES = [
    ("googlenet", "inception3a", ["branch1", "branch2", "branch3", "branch4"]),
    ("resnet50", "stem", ["conv1", "bn1", "relu1", "maxpool1"]),
    ("densenet121", "stem", ["conv1", "bn1", "relu1", "maxpool1"]),
]


@pytest.mark.parametrize("name, stage, children", CASES, ids=[c[0] for c in CASES])
def test_report_in_chromium(name, stage, children, tmp_path):
    network = netspec.load(name)
    analysis = analyze(network)
    page = tmp_path / f"{name}.html"
    page.write_text(report(network, analysis, run_lints(network, analysis)), encoding="utf-8")

    for size in (LAPTOP, PHONE):
        result = probe(page, tmp_path, size)
        assert result["errors"] == [] and result["violations"] == [], result
        assert result["resources"] == []  # nothing fetched: styles, script and pictures are inline
        top = [r.path.split(".")[0] for r in analysis.rows if r.depth == 1]  # a stage's name leads its paths
        assert result["shown"] == top  # folded: only the top-level rows
        assert result["stage"] == stage
        at = top.index(stage) + 1
        assert result["expanded"] == top[:at] + children + top[at:]
        assert result["aria"] == "true"
        assert result["folded"] == top
        assert result["boxes"] > len(top)  # the diagram is there, at least as detailed as the top level
        assert result["page_width"] <= result["view_width"], "the page scrolls sideways"
        check_screenshot(screenshot(page, tmp_path, size), size)


def test_resnet50_top_level_rows_by_hand(tmp_path):
    # stem, layer1..layer4, gap, the flatten the front end inserts before fc, fc: 8 rows
    network = netspec.load("resnet50")
    page = tmp_path / "r.html"
    page.write_text(report(network, analyze(network)), encoding="utf-8")
    result = probe(page, tmp_path, LAPTOP)
    assert result["shown"] == ["stem", "layer1", "layer2", "layer3", "layer4", "gap1", "flatten1", "fc"]
    assert result["target_shown"] is None


def test_link_to_a_folded_row_unfolds_its_ancestors(tmp_path):
    # what a click on a diagram box, a cost bar or a lint finding does: the page opens at #row
    network = netspec.load("resnet50")
    analysis = analyze(network)
    page = tmp_path / "r.html"
    page.write_text(report(network, analysis), encoding="utf-8")
    paths = [r.path for r in analysis.rows]
    deep = paths.index("layer3.bottleneck2.residual1.body.conv2")  # depth 4: layer3 > bottleneck2 > residual1
    result = probe(page, tmp_path, LAPTOP, fragment=f"#r{deep}")
    assert result["target_shown"] is True
    assert result["shown"][:4] == ["stem", "layer1", "layer2", "layer3"]
    assert "bottleneck2" in result["shown"] and "residual1" in result["shown"] and "conv2" in result["shown"]
    assert "layer4" in result["shown"] and result["errors"] == []
