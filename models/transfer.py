"""Weight transfer between two models built from different specs, by layer name and shape."""
from __future__ import annotations

from dataclasses import dataclass, field

import keras


@dataclass
class TransferReport:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # same name, different shapes
    copied_weights: int = 0
    total_weights: int = 0

    @property
    def fraction(self) -> float:
        """Share of the target's weights that came from the source."""
        return self.copied_weights / self.total_weights if self.total_weights else 0.0


def transfer_weights(source: keras.Model, target: keras.Model) -> TransferReport:
    """Copy every layer whose name exists in both models and whose weight shapes all match.

    Layers that are new in the target, or changed shape, keep their fresh initialisation.
    """
    report = TransferReport()
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        weights = layer.get_weights()
        size = sum(int(w.size) for w in weights)
        report.total_weights += size
        if not weights or layer.name not in by_name:
            continue
        incoming = by_name[layer.name].get_weights()
        if [w.shape for w in incoming] != [w.shape for w in weights]:
            report.skipped.append(layer.name)
            continue
        layer.set_weights(incoming)
        report.copied.append(layer.name)
        report.copied_weights += size
    return report
