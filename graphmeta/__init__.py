"""graphmeta: few-shot property prediction on molecules and graphs.

Public API (everything else is internal and may change):

- :func:`load_dataset` -- a named dataset (``"tox21"``, ``"fsmol"``, ``"ENZYMES"``, ...) as a
  :class:`TaskCollection`;
- :func:`load_csv` -- any CSV of SMILES and label columns;
- :func:`load_task_table` -- a long-format table (one row per task x molecule: assay exports) from CSV or Parquet;
- :class:`MoleculeFeaturizer` -- SMILES -> :class:`torch_geometric.data.Data`;
- :class:`TaskCollection`, :class:`TaskSplit` and the episode samplers in :mod:`graphmeta.data`;
- :class:`FewShotClassifier` -- adapt a meta-trained model to a few labelled molecules and predict new ones;
- :func:`available_models` / :func:`load_meta_model` -- the shipped meta-trained models, model files.
"""

from graphmeta.lazy import lazy_exports

__version__ = "0.1.0.dev0"

#: public name -> the module that defines it; imported on first use (PEP 562), so ``import graphmeta`` and the
#: command line's help need neither torch nor RDKit
_PUBLIC: dict[str, str] = {
    "InvalidSmilesError": "graphmeta.data",
    "LenientSanitizationWarning": "graphmeta.data",
    "MoleculeFeaturizer": "graphmeta.data",
    "TaskCollection": "graphmeta.data",
    "list_datasets": "graphmeta.data",
    "load_csv": "graphmeta.data.api",
    "load_dataset": "graphmeta.data.api",
    "load_task_table": "graphmeta.data.api",
    "TaskSplit": "graphmeta.data.splits",
    "available_models": "graphmeta.choices",
    "load_meta_model": "graphmeta.model_files",
    "FewShotClassifier": "graphmeta.predictor",
}


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())

__all__ = [
    "__version__",
    "FewShotClassifier",
    "available_models",
    "load_meta_model",
    "InvalidSmilesError",
    "LenientSanitizationWarning",
    "MoleculeFeaturizer",
    "TaskCollection",
    "TaskSplit",
    "list_datasets",
    "load_csv",
    "load_dataset",
    "load_task_table",
]
