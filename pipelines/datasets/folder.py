"""A local folder of images with one subfolder per class.

Either ROOT/<class>/*.png (test is carved out of it) or ROOT/train/<class>/... plus
ROOT/test/<class>/... . Every image is resized to one size (the first image's by default).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from automl.errors import UsageError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def load(root: str | Path, image_size: list[int] | None):
    """(train, test or None, class names, grayscale)."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"image folder {root} does not exist or is not a directory")
    parts = {p.name for p in class_folders(root)}
    if {"train", "test"} <= parts:
        names = [p.name for p in class_folders(root / "train")]
        files_train = _files(root / "train", names)
        files_test = _files(root / "test", names)
    else:
        names = [p.name for p in class_folders(root)]
        files_train, files_test = _files(root, names), None
    if len(names) < 2:
        raise UsageError(f"image folder {root} needs at least two class subfolders, found {len(names)}")

    first = _open(files_train[0][0])
    grayscale = all(_open(f).mode in ("L", "1", "I;16", "I") for f, _ in files_train[:50])
    mode = "L" if grayscale else "RGB"
    size = tuple(image_size) if image_size else (first.height, first.width)
    train = _read(files_train, mode, size)
    test = _read(files_test, mode, size) if files_test is not None else None
    return train, test, names, grayscale


def _files(folder: Path, names: list[str]) -> list[tuple[Path, int]]:
    files = []
    for label, name in enumerate(names):
        sub = folder / name
        if not sub.is_dir():
            raise UsageError(f"image folder {folder} has no subfolder for class {name!r}")
        found = sorted(p for p in sub.iterdir() if p.suffix.lower() in EXTENSIONS)
        if not found:
            raise UsageError(f"class folder {sub} holds no images ({', '.join(sorted(EXTENSIONS))})")
        files += [(p, label) for p in found]
    return files


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
        return image
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise UsageError(f"cannot read image {path}: {e}") from None


def _read(files, mode: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    images = []
    for path, _ in files:
        image = _open(path).convert(mode)
        if (image.height, image.width) != size:
            image = image.resize((size[1], size[0]), Image.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        images.append(array[..., None] if array.ndim == 2 else array)
    labels = np.array([label for _, label in files], dtype=np.int32)
    return np.stack(images), labels
