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

__version__ = "0.1.0.dev0"

from graphmeta.data import (  # noqa: E402  (version first: the data layer reads it)
    InvalidSmilesError,
    LenientSanitizationWarning,
    MoleculeFeaturizer,
    TaskCollection,
    list_datasets,
)
from graphmeta.data.api import load_csv, load_dataset, load_task_table  # noqa: E402
from graphmeta.data.splits import TaskSplit  # noqa: E402
from graphmeta.models import available_models, load_meta_model  # noqa: E402
from graphmeta.predictor import FewShotClassifier  # noqa: E402

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
