"""graphmeta: few-shot property prediction on molecules and graphs.

Public API (everything else is internal and may change):

- :func:`load_dataset` -- a named dataset (``"tox21"``, ``"fsmol"``, ``"ENZYMES"``, ...) as a
  :class:`TaskCollection`;
- :func:`load_csv` -- any CSV of SMILES and label columns;
- :class:`MoleculeFeaturizer` -- SMILES -> :class:`torch_geometric.data.Data`;
- :class:`TaskCollection`, :class:`TaskSplit` and the episode samplers in :mod:`graphmeta.data`.
"""

__version__ = "0.1.0.dev0"

from graphmeta.data import (  # noqa: E402  (version first: the data layer reads it)
    InvalidSmilesError,
    MoleculeFeaturizer,
    TaskCollection,
    list_datasets,
)
from graphmeta.data.api import load_csv, load_dataset  # noqa: E402
from graphmeta.data.splits import TaskSplit  # noqa: E402

__all__ = [
    "__version__",
    "InvalidSmilesError",
    "MoleculeFeaturizer",
    "TaskCollection",
    "TaskSplit",
    "list_datasets",
    "load_csv",
    "load_dataset",
]
