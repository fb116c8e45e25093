"""report.html in a real headless browser (issue #19): it loads on its own, every plot decodes
and shows, and the page reads as the run's summary."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import html_report_images, tiny_spec
from pipelines.cli import main

BROWSER = Path(__file__).resolve().parent / "browser.py"


def test_report_html_renders_every_plot_in_a_headless_browser(tmp_path):
    arch = tmp_path / "tiny.json"
    arch.write_text(tiny_spec().to_json())
    run = tmp_path / "run"
    assert main(["train", "--arch", str(arch), "--set", "train.epochs=2", "--out", str(run), "--quiet"]) == 0
    names = html_report_images(run)                   # inlined PNGs only: nothing for the browser to fetch

    shot = tmp_path / "shot.png"
    done = subprocess.run([sys.executable, str(BROWSER), str(run / "report.html"), str(shot)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    page = json.loads(done.stdout.strip().splitlines()[-1])
    assert page["loaded"], done.stderr[-2000:]
    assert len(page["images"]) == len(names) >= 2     # the training curves and the architecture at least
    assert all(i["complete"] and i["width"] > 100 and i["height"] > 100 for i in page["images"]), page["images"]
    summary = json.loads((run / "summary.json").read_text())
    assert f"{summary['test_accuracy']:.4f}" in page["text"]
    assert run.name in page["title"] or run.name in page["text"]

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[1] >= 1000 and pixels.shape[0] >= min(page["height"], 20_000) - 20   # the whole page
    for image in page["images"]:                      # each plot painted where the page laid it out
        x, y, w, h = (int(v) for v in image["box"])
        assert w > 100 and h > 100 and y + h <= pixels.shape[0], image
        region = pixels[y:y + h, x:x + w]
        assert region.std() > 10 and (region < 128).mean() > 0.005, image   # lines and labels, not blank
