"""The settings of whole-slide survival analysis: the one definition of each parameter (see
automl.settings) of the `slides`, `clinical`, `data`, `model`, `train`, `search` and `demo`
sections of `automl survival`, and of the same arguments of automl.SurvivalAnalysis.

Sources: seed 002 Ch. 7 (Burghoff's melanoma risk stratification; reference 002 §2c); "thesis
Lxxxx" are lines of the thesis text; "ours" where it says nothing.

Light on purpose (no TensorFlow): the command line validates its config with these classes.
"""
from __future__ import annotations

from typing import Literal

from automl.settings import SEED_RULE, Settings, is_finite_number, is_int, is_number, is_seed
from models.survival import DEFAULT_NET, POOLINGS
from models.survival import PRESETS as NETS

MODES = ("thumbnail", "tiles")  # a whole slide downsampled (the thesis), or a bag of tissue tiles
ARCHS = tuple(NETS)


def _check_at_least(settings: Settings, names_values, low: float) -> None:
    """Each (name, value) a number >= `low` (downsampling factors: 1 is the slide's own pixels)."""
    for name, value in names_values:
        settings.check(name, value, is_finite_number(value) and value >= low, f"a number >= {low:g}")


def _check_size(settings: Settings, name: str, value, low: int) -> None:
    settings.check(name, value, isinstance(value, (list, tuple)) and len(value) == 2
                   and all(is_int(v) and v >= low for v in value), f"[height, width], each an integer >= {low}")


def _check_optional_positive(settings: Settings, names_values) -> None:
    for name, value in names_values:
        if value is not None:
            settings.check_positive(name, value, note=" or None")


class SlidesSettings(Settings):
    """How slides are read: whole-slide thumbnails (the thesis) or tissue tiles, and the cache.

    Sizes are in level-0 pixels unless said otherwise. Where a slide reports its resolution, a
    target µm/px can replace a downsampling factor.

    Args:
        mode: thumbnail (thesis L1466: whole slides downsampled, no tiling) or tiles (tissue tiles, what WSI tools do; anchors §10-11).
        downsample: level-0 pixels per thumbnail pixel (thesis L1466: 64x for dataset A, 128x for its second scanner).
        target_mpp: µm/px of the thumbnail instead of a factor, where the slide reports its resolution; None: `downsample` (ours).
        canvas: [height, width] of the white canvas the thumbnail is centred on; larger thumbnails shrink to fit (ours, sized for a CPU; the thesis' 2500x2000 frame is [2000, 2500]).
        tile_size: tile side in output pixels (ours; CLAM uses 256 at 20x).
        tile_downsample: level-0 pixels per tile pixel (ours: 4x from 40x scans is 10x magnification).
        tile_mpp: µm/px of the tiles instead (1.0 is about 10x), where the slide reports its resolution; None: `tile_downsample` (ours).
        min_tissue: the least share of tissue in a kept tile, tissue found by Otsu on saturation (ours, CLAM-like: half).
        max_tiles: at most K tiles per patient bag, drawn without replacement with the seed (ours).
        cache_dir: the folder of read slides, reused by later runs (keyed by file, size, date and settings); None: ~/.cache/automl/slides (XDG_CACHE_HOME).
    """

    def __init__(self, *, mode: Literal[MODES] = "thumbnail", downsample: float = 64.0,
                 target_mpp: float | None = None, canvas: list[int] = (256, 320), tile_size: int = 64,
                 tile_downsample: float = 4.0, tile_mpp: float | None = None, min_tissue: float = 0.5,
                 max_tiles: int = 16, cache_dir: str | None = None):
        self.check_choice("mode", mode, MODES)
        _check_at_least(self, (("downsample", downsample), ("tile_downsample", tile_downsample)), 1)
        _check_optional_positive(self, (("target_mpp", target_mpp), ("tile_mpp", tile_mpp)))
        _check_size(self, "canvas", canvas, 16)
        self.check_count("tile_size", tile_size, 16)
        self.check_unit("min_tissue", min_tissue)
        self.check_count("max_tiles", max_tiles, 1)
        self.check("cache_dir", cache_dir, cache_dir is None or (isinstance(cache_dir, str) and cache_dir != ""),
                   "a folder path or None")
        self.mode, self.downsample, self.canvas = mode, float(downsample), list(canvas)
        self.target_mpp = None if target_mpp is None else float(target_mpp)
        self.tile_size, self.tile_downsample, self.min_tissue = tile_size, float(tile_downsample), float(min_tissue)
        self.tile_mpp = None if tile_mpp is None else float(tile_mpp)
        self.max_tiles, self.cache_dir = max_tiles, cache_dir

    def reading(self) -> dict:
        """What reading a slide in this mode depends on (the cache's key)."""
        if self.mode == "thumbnail":
            return {"downsample": self.downsample, "target_mpp": self.target_mpp, "canvas": list(self.canvas)}
        return {"tile_size": self.tile_size, "tile_downsample": self.tile_downsample, "tile_mpp": self.tile_mpp,
                "min_tissue": self.min_tissue, "max_tiles": self.max_tiles}


class ClinicalColumns(Settings):
    """The column names of the clinical table: one row per slide.

    Args:
        slide: the slide's file name, with or without its suffix (matched to the slide files by name, then by name without suffix).
        patient: the patient id; several slides per patient are allowed.
        time: survival or follow-up time (any unit, >= 0).
        event: 1: the event (thesis L1462: melanoma-specific death), 0: censored.
        source: optional: the source or scanner, for per-source standardisation (a table without it is one source).
        split: optional: train, val or test per patient; without it patients are split with the seed.
    """

    REQUIRED = ("slide", "patient", "time", "event")  # the arguments below naming columns a table must have
    OPTIONAL = ("source", "split")

    def __init__(self, *, slide: str = "slide", patient: str = "patient", time: str = "time", event: str = "event",
                 source: str = "source", split: str = "split"):
        names = {"slide": slide, "patient": patient, "time": time, "event": event, "source": source, "split": split}
        for key, name in names.items():
            self.check(key, name, isinstance(name, str) and name != "", "a column name (a non-empty string)")
        keys = list(names)
        for i, key in enumerate(keys):  # one column cannot hold two things: the later argument is named
            taken = [k for k in keys[:i] if names[k] == names[key]]
            self.check(key, names[key], not taken, f"a column of its own, not also `{taken[0] if taken else ''}`'s")
        self.slide, self.patient, self.time, self.event, self.source, self.split = names.values()


class SurvivalDataSettings(Settings):
    """How patients are split into train, validation and test (all slides of a patient in one split).

    Args:
        val_fraction: the share of patients for validation (thesis L1446: 36 of 176 patients, 20%).
        test_fraction: the share of patients for test (thesis L1446: 36 of 176 patients, 20%).
        split_seed: the seed of the split, stratified by event (ours; the thesis stratified by risk).
    """

    def __init__(self, *, val_fraction: float = 0.2, test_fraction: float = 0.2, split_seed: int = 42):
        self.check_unit("val_fraction", val_fraction, low_open=True, high_open=True)
        self.check("test_fraction", test_fraction, is_number(test_fraction) and 0 < test_fraction < 1
                   and val_fraction + test_fraction < 1, "in (0, 1), with val_fraction + test_fraction below 1")
        self.check("split_seed", split_seed, is_seed(split_seed), SEED_RULE)
        self.val_fraction, self.test_fraction, self.split_seed = float(val_fraction), float(test_fraction), split_seed


class SurvivalModelSettings(Settings):
    """The survival net: a VGG-style conv net with one linear output, the log-risk.

    Args:
        arch: vgg-small (ours, CPU-sized), vgg-tiny (ours) or vgg16-thesis (the thesis' VGG16-like net, [code] gen_NeraCare_VGG_alike_net; reference 002 §2c.3).
        pooling: tiles mode: a bag's tile risks to the patient's risk by their mean or by attention (Ilse et al. 2018).
    """

    def __init__(self, *, arch: Literal[ARCHS] = DEFAULT_NET, pooling: Literal[POOLINGS] = POOLINGS[0]):
        self.check_choice("arch", arch, ARCHS)
        self.check_choice("pooling", pooling, POOLINGS)
        self.arch, self.pooling = arch, pooling


class SurvivalTrainingSettings(Settings):
    """How the survival net is trained: Adam on the Cox loss (eqs. 7.3 and 7.6); the epoch with the
    best validation C-index is kept.

    Args:
        epochs: epochs of training (thesis L1485: 50 epochs).
        batch_size: the batch size (thesis L1485: batch size 5); the Cox loss compares the samples of a batch, so at least 2.
        learning_rate: Adam's learning rate (thesis L1485: 0.001).
        penalty: λ of the batch-mean-risk penalty (eq. 7.6); not stated in the thesis (reference 002 §2c.4): ours; 0 switches it off.
    """

    def __init__(self, *, epochs: int = 50, batch_size: int = 5, learning_rate: float = 1e-3, penalty: float = 0.1):
        self.check_count("epochs", epochs, 1)
        self.check_count("batch_size", batch_size, 2, " (the Cox loss compares samples in a batch)")
        self.check_positive("learning_rate", learning_rate)
        self.check_positive("penalty", penalty, zero=True)
        self.epochs, self.batch_size = epochs, batch_size
        self.learning_rate, self.penalty = float(learning_rate), float(penalty)


class SurvivalSearchSettings(Settings):
    """Keras Tuner's random search over the net's depth and widths, each trial scored by the
    validation C-index (the thesis chose no architecture; issue #8 asks for a search).

    Args:
        max_trials: the trials of the search (ours).
        epochs: the epochs of each trial (ours).
    """

    def __init__(self, *, max_trials: int = 4, epochs: int = 10):
        self.check_count("max_trials", max_trials, 1)
        self.check_count("epochs", epochs, 1)
        self.max_trials, self.epochs = max_trials, epochs


class DemoSettings(Settings):
    """The synthetic cohort of `automl survival --demo` (automl/survival/cohort.py): two sources,
    a latent risk visible in the stain, exponential survival times.

    Args:
        patients: the patients (ours; about a quarter of them with a second slide); at least 12 for three splits with events.
        size: level-0 [height, width] of each slide (ours: 3 pyramid levels).
        mpp: µm/px of level 0 (ours: 20x-like).
        shift: the colour cast of source B (ours: the thesis' domain gap; try 40).
        downsample: the thumbnails' downsampling of the demo (ours: the demo slides are ~1,000x smaller than real ones, so 16x, not 64x).
        canvas: the thumbnails' canvas of the demo (ours: keeps the demo to a few minutes on 2 cores).
        tile_downsample: the tiles' downsampling of the demo (ours).
    """

    def __init__(self, *, patients: int = 48, size: list[int] = (1536, 2048), mpp: float = 0.5, shift: float = 0.0,
                 downsample: float = 16.0, canvas: list[int] = (128, 160), tile_downsample: float = 2.0):
        self.check_count("patients", patients, 12, " (three splits with events)")
        _check_size(self, "size", size, 64)
        self.check_positive("mpp", mpp)
        self.check("shift", shift, is_number(shift), "a number")
        _check_at_least(self, (("downsample", downsample), ("tile_downsample", tile_downsample)), 1)
        _check_size(self, "canvas", canvas, 16)
        self.patients, self.size, self.mpp, self.shift = patients, list(size), float(mpp), float(shift)
        self.downsample, self.canvas, self.tile_downsample = float(downsample), list(canvas), float(tile_downsample)

    def applied_to(self, slides: SlidesSettings) -> SlidesSettings:
        """`slides` with the demo's downsampling and canvas (its slides are small)."""
        return slides.replace(downsample=self.downsample, canvas=self.canvas, tile_downsample=self.tile_downsample)
