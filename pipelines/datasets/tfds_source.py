"""Any tensorflow-datasets image-classification dataset, read offline when prepared.

tfds retries a failing download for about 200 s (feasibility.md §4), so we never let it try
blindly: if the data is not prepared, we download only when `download` is on and the
dataset's download host answers within a few seconds; otherwise we fail at once with
instructions for preparing the data.
"""
from __future__ import annotations

import socket
import threading
from urllib.parse import urlparse

import numpy as np

from automl.errors import DataNotPrepared, UsageError

PROBE_TIMEOUT_S = 3.0


def is_tfds_name(name: str) -> bool:
    """A registry lookup; never tfds.list_builders(), which asks Google Cloud (4 s, online)."""
    import tensorflow_datasets as tfds

    try:
        tfds.builder_cls(name.split(":")[0].split("/")[0])
        return True
    except (tfds.core.registered.DatasetNotFoundError, ValueError):  # ValueError: not a name at all
        return False


def builder(name: str, data_dir: str | None):
    import tensorflow_datasets as tfds

    try:
        # try_gcs=False: never reach for Google Cloud Storage metadata, which hangs offline.
        return tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except Exception as e:  # tfds raises several types for unknown names and versions
        raise UsageError(f"tensorflow-datasets cannot open {name!r}: {str(e).splitlines()[0]}") from None


def image_features(b) -> tuple[str, str]:
    """The (image, label) keys of a supervised image-classification builder."""
    import tensorflow_datasets as tfds

    keys = b.info.supervised_keys
    if not keys or len(keys) != 2 or not all(isinstance(k, str) for k in keys):
        raise UsageError(f"{b.name} is not a supervised image-classification dataset")
    image_key, label_key = keys
    features = b.info.features
    if not isinstance(features[image_key], tfds.features.Image) or not isinstance(
        features[label_key], tfds.features.ClassLabel
    ):
        raise UsageError(
            f"{b.name} is not an image-classification dataset "
            f"({image_key}: {type(features[image_key]).__name__}, "
            f"{label_key}: {type(features[label_key]).__name__})"
        )
    return image_key, label_key


def prepare(name: str, data_dir: str | None, manual_dir: str | None = None, download: bool = True):
    """Make `name` readable offline in data_dir, downloading or reading manual_dir as needed."""
    import tensorflow_datasets as tfds

    b = builder(name, data_dir)
    image_features(b)
    if b.is_prepared():
        return b
    if manual_dir is None:
        reason = _why_not_downloadable(b, download)
        if reason:
            raise DataNotPrepared(guidance(name, data_dir, reason))
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    try:
        b.download_and_prepare(download_config=config)
    except Exception as e:
        raise DataNotPrepared(guidance(name, data_dir, f"preparing failed: {str(e).splitlines()[0]}")) from None
    return b


def load(name: str, data_dir: str | None, download: bool):
    """(train, test or None, class names, channels): test is None when there is no test split."""
    b = prepare(name, data_dir, download=download)
    _, label_key = image_features(b)
    splits = set(b.info.splits.keys())
    train = _as_arrays(b, "train")
    test = _as_arrays(b, "test") if (not splits or "test" in splits) else None
    names = list(b.info.features[label_key].names)
    return train, test, names


def guidance(name: str, data_dir: str | None, reason: str) -> str:
    dd = f" --data-dir {data_dir}" if data_dir else ""
    where = f" in {data_dir}" if data_dir else ""
    return (
        f"dataset {name!r} is not prepared{where} and {reason}. Prepare it with "
        f"`automl datasets prepare {name}{dd}` on a machine with internet (then copy the data dir "
        f"here), or put its downloaded archives in a folder and run "
        f"`automl datasets prepare {name}{dd} --manual-dir FOLDER`"
    )


def _why_not_downloadable(b, download: bool) -> str | None:
    if not download:
        return "downloading is off (data.download: false)"
    if b.MANUAL_DOWNLOAD_INSTRUCTIONS:
        return "it needs a manual download"
    urls = list((b.url_infos or {}).keys())
    if not urls:
        return "tfds lists no download URL for it"
    host = urlparse(urls[0]).hostname
    if not _reachable(host, 443 if urls[0].startswith("https") else 80):
        return f"its download host {host} cannot be reached"
    return None


def _reachable(host: str, port: int) -> bool:
    """A TCP connect with a hard deadline: DNS lookups cannot be given a timeout directly."""
    result = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S + 0.5)
    return bool(result and result[0])


def _as_arrays(b, split: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    images, labels = [], []
    for x, y in tfds.as_numpy(b.as_dataset(split=split, as_supervised=True).batch(4096)):
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)
