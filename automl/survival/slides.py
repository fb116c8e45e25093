"""Slide reading with OpenSlide: thumbnails (the thesis' mode) and tissue tiles, with a cache.

Every format OpenSlide reads (svs, ndpi, mrxs, scn, tiff, ...) and, through its fallback,
plain images (png, jpeg). Sizes are in level-0 pixels unless said otherwise. A target µm/px is
used where the slide reports its resolution; otherwise the plain downsample factor.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SLIDE_SUFFIXES = (".svs", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".svslide", ".bif", ".tif", ".tiff",
                  ".dcm", ".png", ".jpg", ".jpeg", ".bmp")


class SlideError(Exception):
    """A slide that cannot be read: the run skips it and lists it in the report."""


def open_slide(path: str | Path):
    import openslide
    from PIL import UnidentifiedImageError

    try:
        return openslide.open_slide(str(path))  # ImageSlide for plain images
    except (openslide.OpenSlideError, UnidentifiedImageError, OSError, ValueError) as e:
        raise SlideError(f"{Path(path).name}: unreadable ({type(e).__name__}: {str(e).strip() or 'no detail'})") from None


def microns_per_pixel(slide) -> float | None:
    import openslide

    value = slide.properties.get(openslide.PROPERTY_NAME_MPP_X)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _factor(slide, downsample: float, target_mpp: float | None) -> float:
    """Level-0 pixels per output pixel: from the target µm/px when the slide knows its own."""
    mpp = microns_per_pixel(slide)
    return target_mpp / mpp if (target_mpp and mpp) else float(downsample)


def _read_rgb(slide, location, level: int, size) -> np.ndarray:
    """read_region composited on white (transparent areas outside the scanned region are white)."""
    from PIL import Image

    region = slide.read_region(location, level, size)
    white = Image.new("RGBA", region.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, region).convert("RGB"))


def _resize(image: np.ndarray, size_wh) -> np.ndarray:
    from PIL import Image

    if (image.shape[1], image.shape[0]) == tuple(size_wh):
        return image
    return np.asarray(Image.fromarray(image).resize(tuple(size_wh), Image.BILINEAR))


def read_scaled(slide, factor: float) -> np.ndarray:
    """The whole slide, downsampled `factor` times, read from the best pyramid level."""
    level = slide.get_best_level_for_downsample(factor)
    width, height = slide.level_dimensions[level]
    image = _read_rgb(slide, (0, 0), level, (width, height))
    w0, h0 = slide.dimensions
    return _resize(image, (max(1, round(w0 / factor)), max(1, round(h0 / factor))))


def thumbnail(slide, downsample: float, target_mpp: float | None, canvas_hw) -> tuple[np.ndarray, dict]:
    """The thesis' input: the slide downsampled, centred on a white canvas of `canvas_hw`
    (shrunk further to fit, keeping its aspect, where it is larger); plus what was done."""
    factor = _factor(slide, downsample, target_mpp)
    image = read_scaled(slide, factor)
    ch, cw = canvas_hw
    fit = min(1.0, ch / image.shape[0], cw / image.shape[1])
    if fit < 1.0:
        image = _resize(image, (max(1, int(image.shape[1] * fit)), max(1, int(image.shape[0] * fit))))
    out = np.full((ch, cw, 3), 255, np.uint8)
    top, left = (ch - image.shape[0]) // 2, (cw - image.shape[1]) // 2
    out[top:top + image.shape[0], left:left + image.shape[1]] = image
    return out, {"factor": factor / fit, "shrunk_to_fit": fit < 1.0}


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1] (256 bins)."""
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight0 = np.cumsum(hist)
    weight1 = weight0[-1] - weight0
    mean0 = np.cumsum(hist * centres) / np.maximum(weight0, 1)
    mean1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(weight1, 1)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    return float(centres[int(np.argmax(between))])


def tissue_mask(slide, mask_downsample: float = 32.0) -> tuple[np.ndarray, float]:
    """Tissue where the saturation exceeds its Otsu threshold (and pixels are not near-white), on
    a low-resolution image; returns the mask and its level-0 pixels per mask pixel."""
    factor = min(mask_downsample, max(slide.dimensions) / 64)  # at least 64 px on the long side
    image = read_scaled(slide, max(factor, 1.0)).astype(np.float32) / 255.0
    high, low = image.max(axis=-1), image.min(axis=-1)
    saturation = (high - low) / np.maximum(high, 1e-6)
    threshold = max(otsu_threshold(saturation), 0.05)  # a blank slide has no tissue, not half of it
    mask = (saturation > threshold) & (low < 0.92)
    return mask, slide.dimensions[0] / mask.shape[1]


@dataclass
class Tile:
    x: int          # level-0 top-left corner
    y: int
    size0: int      # level-0 pixels per side
    tissue: float   # fraction of tissue under the tile


def tile_grid(slide, tile_size: int, downsample: float, target_mpp: float | None, min_tissue: float,
              max_tiles: int, seed: int, mask=None) -> list[Tile]:
    """Non-overlapping tiles of `tile_size` output pixels at the target resolution with at least
    `min_tissue` tissue; at most `max_tiles`, drawn without replacement (seeded), in grid order."""
    factor = _factor(slide, downsample, target_mpp)
    size0 = max(1, int(round(tile_size * factor)))
    mask, per_mask = mask if mask is not None else tissue_mask(slide)
    width, height = slide.dimensions
    tiles = []
    for y in range(0, height - size0 + 1, size0):
        for x in range(0, width - size0 + 1, size0):
            region = mask[int(y / per_mask):max(int((y + size0) / per_mask), int(y / per_mask) + 1),
                          int(x / per_mask):max(int((x + size0) / per_mask), int(x / per_mask) + 1)]
            fraction = float(region.mean()) if region.size else 0.0
            if fraction >= min_tissue:
                tiles.append(Tile(x, y, size0, fraction))
    if len(tiles) > max_tiles:
        keep = np.sort(np.random.default_rng(seed).choice(len(tiles), max_tiles, replace=False))
        tiles = [tiles[i] for i in keep]
    return tiles


def read_tiles(slide, tiles: list[Tile], tile_size: int) -> np.ndarray:
    """The tiles as uint8 [K, S, S, 3], each read from the best level and resized to S."""
    out = np.zeros((len(tiles), tile_size, tile_size, 3), np.uint8)
    for i, tile in enumerate(tiles):
        level = slide.get_best_level_for_downsample(tile.size0 / tile_size)
        ds = slide.level_downsamples[level]
        side = max(1, int(round(tile.size0 / ds)))
        out[i] = _resize(_read_rgb(slide, (tile.x, tile.y), level, (side, side)), (tile_size, tile_size))
    return out


class SlideCache:
    """Read results keyed by the file (path, size, modification time) and the reading settings,
    so a second run does not reread gigapixel files. Files are written atomically."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def _path(self, slide_path: Path, settings: dict) -> Path:
        stat = slide_path.stat()
        key = json.dumps([str(slide_path.resolve()), stat.st_size, stat.st_mtime_ns, settings], sort_keys=True)
        return self.directory / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.npz"

    def get(self, slide_path: Path, settings: dict) -> dict | None:
        path = self._path(slide_path, settings)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {"pixels": data["pixels"], "info": json.loads(str(data["info"]))}

    def put(self, slide_path: Path, settings: dict, pixels: np.ndarray, info: dict) -> None:
        path = self._path(slide_path, settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        with open(tmp, "wb") as f:
            np.savez(f, pixels=pixels, info=json.dumps(info))
        os.replace(tmp, path)


def read_slide(path: Path, mode: str, settings: dict, cache: SlideCache | None, seed: int) -> dict:
    """One slide in `mode` (thumbnail: [H, W, 3]; tiles: [K, S, S, 3]), from the cache if there."""
    if cache is not None:
        hit = cache.get(path, {"mode": mode, **settings, "seed": seed})
        if hit is not None:
            return {**hit, "cached": True}
    slide = open_slide(path)
    try:
        info = {"dimensions": list(slide.dimensions), "levels": slide.level_count, "mpp": microns_per_pixel(slide)}
        if mode == "thumbnail":
            pixels, done = thumbnail(slide, settings["downsample"], settings["target_mpp"], settings["canvas"])
            info.update(done)
        else:
            tiles = tile_grid(slide, settings["tile_size"], settings["tile_downsample"], settings["tile_mpp"],
                              settings["min_tissue"], settings["max_tiles"], seed)
            pixels = read_tiles(slide, tiles, settings["tile_size"])
            info["tiles"] = [asdict(t) for t in tiles]
    except SlideError:
        raise
    except Exception as e:  # a slide that opens but fails to decode (truncated, corrupt tiles)
        raise SlideError(f"{path.name}: unreadable ({type(e).__name__}: {str(e).strip() or 'no detail'})") from None
    finally:
        slide.close()
    if cache is not None:
        cache.put(path, {"mode": mode, **settings, "seed": seed}, pixels, info)
    return {"pixels": pixels, "info": info, "cached": False}
