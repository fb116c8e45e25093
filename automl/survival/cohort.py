"""A synthetic whole-slide cohort for `automl survival --demo`, tests and benchmarks.

Each patient has a latent risk z ~ N(0, 1) that is visible in the slide: the tissue's stain
runs from pale pink (low z) to dark purple (high z). Survival times are exponential with hazard
exp(z) (a Cox model with β = 1 on z), censored uniformly on [0, 1.5] (about half the patients have the event), so a net that reads the stain can rank
the patients. Slides are pyramidal tiled TIFFs (top-level pages, as OpenSlide needs; feasibility
§6) with their µm/px; patients come from two sources ("scanners"), and `shift` gives source B a
colour cast, the thesis' domain gap.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from automl.survival.settings import DemoSettings

_DEMO = DemoSettings.defaults()  # `survival.demo.*`: one set of defaults for the demo cohort

PALE, DARK = np.array([236, 170, 205]), np.array([95, 40, 130])  # eosin-pink to hematoxylin-purple


def write_pyramid(path: Path, image: np.ndarray, mpp: float, tile: int = 256) -> None:
    import tifffile

    opts = dict(tile=(tile, tile), photometric="rgb", compression="zlib")
    with tifffile.TiffWriter(path) as tif:
        tif.write(image, resolution=(1e4 / mpp, 1e4 / mpp), resolutionunit="CENTIMETER", **opts)
        level = image
        while min(level.shape[:2]) > tile:
            level = level[::2, ::2]
            tif.write(level, subfiletype=1, **opts)  # each reduced level a top-level page


def slide_image(z: float, size_hw, rng: np.random.Generator, cast: np.ndarray) -> np.ndarray:
    """White glass with 2-4 tissue ellipses whose stain darkness follows z, plus texture."""
    h, w = size_hw
    yy, xx = np.mgrid[0:h, 0:w]
    tissue = np.zeros((h, w), bool)
    for _ in range(rng.integers(2, 5)):
        cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.2, 0.8) * w
        ry, rx = rng.uniform(0.1, 0.25) * h, rng.uniform(0.1, 0.25) * w
        tissue |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    darkness = 1.0 / (1.0 + np.exp(-1.5 * z))
    colour = (1 - darkness) * PALE + darkness * DARK
    texture = rng.normal(0.0, 12.0, (h, w, 1))
    image = np.full((h, w, 3), 247.0) + rng.normal(0.0, 2.0, (h, w, 1))
    image[tissue] = (colour + texture[tissue] + cast)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_cohort(directory: str | Path, patients: int = _DEMO["patients"], size_hw=tuple(_DEMO["size"]),
                 mpp: float = _DEMO["mpp"], seed: int = 0, shift: float = _DEMO["shift"], second_slide: float = 0.25,
                 censor_max: float = 1.5) -> Path:
    """Writes a synthetic cohort: slides in `directory/slides/`, the table in `directory/clinical.csv`.

    Args:
        directory: the folder to write into (made if needed).
        patients: the number of patients (DemoSettings.patients).
        size_hw: each slide's (height, width) in pixels (DemoSettings.size).
        mpp: the slides' µm per pixel (DemoSettings.mpp).
        seed: the cohort's seed.
        shift: source B's colour cast (DemoSettings.shift).
        second_slide: the chance that a patient has a second slide.
        censor_max: censoring times are uniform on [0, censor_max).

    Returns:
        The path of the table.
    """
    directory = Path(directory)
    slides = directory / "slides"
    slides.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(patients):
        z = float(rng.normal())
        time = float(rng.exponential(1.0 / np.exp(z)))
        censor = float(rng.uniform(0.0, censor_max))
        source = "A" if p % 2 == 0 else "B"
        cast = np.array([-shift, 0.0, shift]) if source == "B" else np.zeros(3)
        for s in range(1 + int(rng.uniform() < second_slide)):
            name = f"patient{p:03d}_{s}.tiff"
            write_pyramid(slides / name, slide_image(z, size_hw, rng, cast), mpp)
            rows.append({"slide": name, "patient": f"P{p:03d}", "time": round(min(time, censor) * 12, 3),
                         "event": int(time <= censor), "source": source})
    table = directory / "clinical.csv"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return table
