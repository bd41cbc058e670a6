"""Pretraining of the GNN backbone: self-supervised on unlabeled molecules, or supervised on many labelled tasks.

The published few-shot leaders (Pre-PAR, ADKF-IFT...) start from a pretrained GIN; :func:`load_pretrained_encoder`
puts the weights of ``encoder.pt`` into a model before meta-training.

- :func:`pretrain` trains on a :class:`MoleculeCorpus` (never a label) with attribute masking (Hu et al., ICLR
  2020), graph contrastive learning (GraphCL, You et al., NeurIPS 2020), or both summed with weights
  (``PretrainConfig(objectives=("masking", "contrastive"), objective_weights=(1.0, 0.5))``).
- :func:`supervised_pretrain` trains a multitask head on the labels of the tasks passed in (e.g. FS-Mol's
  training assays; validation and test tasks are refused), optionally starting from a self-supervised
  ``encoder.pt`` (``PretrainConfig(init_from=...)``).

Both hold out ``eval_molecules`` molecules (seeded) and report every objective on them; both write ``encoder.pt``
(the backbone) and ``history.json`` at every evaluation and ``last.pt`` (everything needed to continue) at every
evaluation and every ``checkpoint_every`` steps: ``resume=True`` continues exactly as an uninterrupted run.

Layout: :mod:`.corpus` (molecules), :mod:`.config`, :mod:`.augment` (GraphCL views), :mod:`.objectives` (model
and losses), :mod:`.labels` (multitask labels, ROC-AUC), :mod:`.hardware` (device, precision), :mod:`.trainer`
(loop, checkpoints), :mod:`.encoder_file` (``encoder.pt``).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from graphmeta.data.tasks import TaskCollection
from graphmeta.pretrain.config import AUGMENTATIONS, OBJECTIVES, PretrainConfig
from graphmeta.pretrain.corpus import DEFAULT_CORPUS, MoleculeCorpus, molecule_corpus, smiles_digest
from graphmeta.pretrain.encoder_file import load_pretrained_encoder
from graphmeta.pretrain.labels import GraphLabels, training_tasks
from graphmeta.pretrain.objectives import AttributeMasking, PretrainModel
from graphmeta.pretrain.trainer import PretrainData, Pretrainer

__all__ = ["DEFAULT_CORPUS", "OBJECTIVES", "AUGMENTATIONS", "MoleculeCorpus", "molecule_corpus", "PretrainConfig",
           "AttributeMasking", "PretrainModel", "pretrain", "supervised_pretrain", "load_pretrained_encoder"]


def pretrain(corpus: MoleculeCorpus, config: PretrainConfig, out_dir: str | os.PathLike | None = None,
             progress: bool = True, resume: bool = False) -> dict[str, Any]:
    """Pretrains a backbone self-supervised on ``corpus``.

    Returns ``{"history", "encoder_state", "checkpoint", "last", "precision", "device", "steps_done"}``. With
    ``out_dir``, writes ``encoder.pt`` (loadable by :func:`load_pretrained_encoder`), ``history.json`` and
    ``last.pt``; ``resume=True`` continues from ``out_dir/last.pt`` when there is one (an existing ``last.pt``
    without ``resume`` is an error: it would be overwritten).
    """
    if "multitask" in config.objectives:
        raise ValueError("the multitask objective needs labelled tasks: use supervised_pretrain(collection, ...)")
    record = {"molecules": len(corpus), "sources": dict(corpus.sources), "excluded_eval_molecules": corpus.excluded,
              "smiles_sha256": smiles_digest(corpus.smiles)}
    data = PretrainData(graphs=corpus.graphs, featurizer=corpus.featurizer, pool=np.arange(len(corpus)), record=record)
    return Pretrainer(data, config, out_dir, progress).fit(resume)


def supervised_pretrain(collection: TaskCollection, config: PretrainConfig, out_dir: str | os.PathLike | None = None,
                        tasks: Sequence[int | str] | None = None, progress: bool = True,
                        resume: bool = False) -> dict[str, Any]:
    """Multitask pretraining of a backbone on the binary labels of ``tasks`` of ``collection`` only.

    ``tasks``: names or indices; default the collection's ``"train"`` task group (FS-Mol's training assays) when
    it has task groups, else all its tasks. Tasks of a ``valid`` or ``test`` group are refused. The molecules
    trained on are those with a label in these tasks (``eval_molecules`` of them held out: held-out loss and mean
    ROC-AUC over the tasks with both classes among them). ``config.objectives`` must contain ``"multitask"`` and
    may add ``"masking"`` / ``"contrastive"`` on the same molecules; ``config.init_from`` starts the backbone from
    an ``encoder.pt``. Returns and writes what :func:`pretrain` does.
    """
    if "multitask" not in config.objectives:
        raise ValueError(f"supervised pretraining trains the 'multitask' objective; config.objectives is "
                         f"{list(config.objectives)}")
    task_ids = training_tasks(collection, tasks)
    labels = GraphLabels.from_collection(collection, task_ids)
    pool = labels.labelled_graphs().numpy()
    smiles = [collection.smiles[g] for g in pool.tolist()] if collection.smiles is not None else None
    record = {"molecules": int(len(pool)), "sources": {collection.name: int(len(pool))}, "excluded_eval_molecules": 0,
              "smiles_sha256": smiles_digest(smiles) if smiles is not None else None,
              "collection": collection.name, "tasks": len(task_ids), "labelled_pairs": labels.n_pairs,
              "labels_sha256": labels.digest}
    data = PretrainData(graphs=collection.graphs, featurizer=collection.featurizer, pool=pool, record=record,
                        labels=labels)
    return Pretrainer(data, config, out_dir, progress).fit(resume)
