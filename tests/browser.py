"""Render an HTML page in headless Chromium: the DOM after loading, every image's state, a screenshot.

The page is opened from disk with a proxy that refuses every connection, so anything it tried to
fetch from the network would show up as a broken image.  To learn which images loaded, the page is
copied next to itself with a small probe script appended (the report itself has no scripts): after
the load event the probe writes each image's ``complete``, natural size and position on the page
into the DOM, which ``--dump-dom`` prints.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WIDTH_PX = 1280

_PROBE = """
<script>
window.addEventListener('load', function () {
  var out = {height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth, images: []};
  for (var i = 0; i < document.images.length; i++) {
    var img = document.images[i], r = img.getBoundingClientRect();
    out.images.push({complete: img.complete, w: img.naturalWidth, h: img.naturalHeight,
                     x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height,
                     src: img.getAttribute('src').slice(0, 40)});
  }
  var pre = document.createElement('pre');
  pre.id = 'cellpipe-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def chromium() -> str | None:
    """The Chromium executable (Debian's ``chromium`` package), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
        "--force-device-scale-factor=1", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
        f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@dataclass
class Rendered:
    """What Chromium made of a page: the probe's record and the screenshot (H, W, 3) uint8."""

    height: int
    images: list[dict]
    screenshot: np.ndarray
    width: int = WIDTH_PX
    """The page's scroll width (px): more than the window's when something sticks out sideways."""


def render(page: Path, workdir: Path, width: int = WIDTH_PX) -> Rendered:
    """Load ``page`` in headless Chromium in a window ``width`` px wide; return the images' states and a
    full-page screenshot."""
    from PIL import Image

    browser = chromium()
    if browser is None:
        raise RuntimeError("chromium not found (make test installs Debian's chromium package)")
    workdir.mkdir(parents=True, exist_ok=True)
    probed = page.with_name(page.stem + ".probe.html")
    text = page.read_text(encoding="utf-8")
    probed.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    try:
        dom = _run(browser, workdir / "profile", f"--window-size={width},1000", "--dump-dom", probed.as_uri())
    finally:
        probed.unlink()
    match = re.search(r'<pre id="cellpipe-probe">(.*?)</pre>', dom.stdout, re.S)
    if not match:
        raise RuntimeError(f"chromium did not render {page}: {dom.stderr[-2000:]}")
    probe = json.loads(html.unescape(match.group(1)))
    height = int(probe["height"])
    shot = workdir / "screenshot.png"
    proc = _run(browser, workdir / "profile", f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri())
    if not shot.exists():
        raise RuntimeError(f"chromium wrote no screenshot of {page}: {proc.stderr[-2000:]}")
    return Rendered(height, probe["images"], np.asarray(Image.open(shot).convert("RGB")), int(probe["width"]))


def region(rendered: Rendered, image: dict) -> np.ndarray:
    """The pixels of the screenshot where ``image`` (a probe record) was drawn."""
    x0, y0 = int(round(image["x"])), int(round(image["y"]))
    x1, y1 = x0 + int(image["width"]), y0 + int(image["height"])
    return rendered.screenshot[y0:y1, x0:x1]
