"""Baselines that need no meta-training: classical classifiers on molecular fingerprints."""

from graphmeta.baselines.fingerprints import (
    FingerprintCache,
    KNNBaseline,
    RandomForestBaseline,
    ecfp4,
    evaluate_fingerprint_baseline,
    fingerprint_baseline_probabilities,
    tanimoto_distance,
)

__all__ = ["ecfp4", "FingerprintCache", "RandomForestBaseline", "KNNBaseline", "evaluate_fingerprint_baseline",
           "fingerprint_baseline_probabilities", "tanimoto_distance"]
