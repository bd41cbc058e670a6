"""``encoder.pt``: the pretrained backbone weights a few-shot model starts from, and loading them safely."""

from __future__ import annotations

import os
from typing import Any

from graphmeta.checkpoint import CheckpointError, load_checkpoint
from graphmeta.data.featurize import atoms_and_bonds_key, graphs_key
from graphmeta.nn.backbone import GraphEncoder

__all__ = ["ENCODER_KIND", "load_pretrained_encoder"]

#: Checkpoint kind of ``encoder.pt`` (``{"encoder": state_dict}``, config with ``encoder``, ``featurizer``...).
ENCODER_KIND = "pretrained-encoder"

#: Encoder settings a pretrained checkpoint and the model it is loaded into must share.
_MATCHING = ("conv", "hidden_channels", "num_layers", "atom_vocab", "bond_vocab", "node_attr_channels",
             "degree_vocab", "norm", "heads")


def load_pretrained_encoder(path: str | os.PathLike, encoder: GraphEncoder, featurizer: str | None = None) -> dict[str, Any]:
    """Loads pretrained backbone weights from ``path`` into ``encoder`` (its readout and fingerprint fusion are left
    as they are: pretraining trains neither). Refuses a checkpoint whose backbone settings or atom and bond
    features differ, naming the file and the mismatching settings. Returns the checkpoint's config."""
    blob = load_checkpoint(path, kind=ENCODER_KIND)
    saved = blob["config"]["encoder"]
    different = [k for k in _MATCHING if saved.get(k) != encoder.config.get(k)]
    if different:
        detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs model {encoder.config.get(k)!r}" for k in different)
        raise CheckpointError(f"{path}: pretrained backbone does not fit this model ({detail})")
    saved_featurizer = blob["config"].get("featurizer")
    if featurizer is not None and (atoms_and_bonds_key(graphs_key(saved_featurizer))
                                   != atoms_and_bonds_key(graphs_key(featurizer))):  # strict and lenient graphs alike
        raise CheckpointError(f"{path}: pretrained on graphs from featurizer {saved_featurizer!r}, "
                              f"but the data comes from {featurizer!r}")
    state = {k: v for k, v in blob["state"]["encoder"].items() if not k.startswith("readout.")}
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(("readout.", "fingerprint."))]  # not pretrained: stay fresh
    if missing or unexpected:
        raise CheckpointError(f"{path}: backbone weights do not match (missing {missing}, unexpected {unexpected})")
    return blob["config"]
