"""Survival metrics with lifelines: Harrell's C-index, AUROC on the event indicator, per-source
z-standardisation (the thesis' "Merged Std"), and Kaplan-Meier risk groups with the log-rank
test and a Cox hazard ratio.

Risk convention: a higher risk means a shorter expected survival. lifelines' concordance_index
scores predicted *survival times*, so it is given the negated risk (checked by a test).
"""
from __future__ import annotations

import warnings

import numpy as np


def c_index(times, events, risks) -> float | None:
    from lifelines.utils import concordance_index

    events = np.asarray(events)
    if events.sum() == 0 or len(events) < 2:
        return None
    try:
        return float(concordance_index(np.asarray(times), -np.asarray(risks), events))
    except ZeroDivisionError:  # no comparable pair
        return None


def auroc(events, risks) -> float | None:
    """Bradley's AUROC with the event indicator as the label (reference 002 §2c.5's reading)."""
    from sklearn.metrics import roc_auc_score

    events = np.asarray(events)
    if len(set(events.tolist())) < 2:
        return None
    return float(roc_auc_score(events, np.asarray(risks)))


def standardise_by_source(risks, sources) -> np.ndarray:
    """Each source's risks to zero mean and unit deviation (the thesis' "Merged Std")."""
    risks, sources = np.asarray(risks, float), np.asarray(sources)
    out = np.empty_like(risks)
    for source in np.unique(sources):
        part = sources == source
        std = risks[part].std()
        out[part] = (risks[part] - risks[part].mean()) / (std if std > 0 else 1.0)
    return out


def risk_groups(times, events, risks, cut: float) -> dict:
    """High (risk above `cut`, the training median) vs low: log-rank p and the Cox hazard ratio."""
    import pandas as pd
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    times, events, high = np.asarray(times, float), np.asarray(events, int), np.asarray(risks) > cut
    out = {"cut": float(cut), "high": int(high.sum()), "low": int((~high).sum()), "logrank_p": None,
           "hazard_ratio": None, "hazard_ratio_ci": None}
    if high.all() or not high.any() or events.sum() == 0:
        return out
    test = logrank_test(times[high], times[~high], events[high], events[~high])
    out["logrank_p"] = float(test.p_value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' separation warnings: the check below decides
        try:
            fitter = CoxPHFitter().fit(pd.DataFrame({"T": times, "E": events, "high": high.astype(int)}), "T", "E")
            with np.errstate(over="ignore"):
                ratio = float(fitter.hazard_ratios_["high"])
                ci = np.exp(fitter.confidence_intervals_.loc["high"].to_numpy())
        except Exception:  # no fit at all; the log-rank test stands
            return out
    if np.isfinite(ratio) and np.all(np.isfinite(ci)) and ci[1] / max(ci[0], 1e-300) < 1e6:
        out["hazard_ratio"], out["hazard_ratio_ci"] = ratio, [float(ci[0]), float(ci[1])]
    else:  # separation (every event in one group): no finite ratio
        out["hazard_ratio_note"] = "not estimable (separation)"
    return out


def metrics(frame, cut: float) -> dict:
    """C-index and AUROC raw and source-standardised, plus the risk groups, for one table with
    columns time, event, risk, source (slides or patients of one split)."""
    times, events, risks = frame["time"].to_numpy(), frame["event"].to_numpy(), frame["risk"].to_numpy()
    std = standardise_by_source(risks, frame["source"].to_numpy())
    out = {"n": int(len(frame)), "events": int(events.sum()), "c_index": c_index(times, events, risks),
           "auroc": auroc(events, risks), "c_index_std": c_index(times, events, std), "auroc_std": auroc(events, std),
           "groups": risk_groups(times, events, risks, cut)}
    sources = sorted(set(frame["source"]))
    if len(sources) > 1:
        out["by_source"] = {s: {"n": int((frame["source"] == s).sum()),
                                "c_index": c_index(times[frame["source"] == s], events[frame["source"] == s],
                                                   risks[frame["source"] == s])} for s in sources}
    return out
