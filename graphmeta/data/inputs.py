"""User inputs -> graphs: SMILES lists, pandas Series, RDKit molecules or PyG ``Data`` become one :class:`GraphInputs`.

This is the single entry point through which the predictor, the Super Learner and the command line turn
"molecules a user has" into what the model reads. Nothing is dropped silently: an invalid SMILES raises
:class:`~graphmeta.data.featurize.InvalidSmilesError` naming its position (every invalid row, up to a few), so
that a prediction never goes missing for a row the user passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from torch_geometric.data import Data

from graphmeta.data.featurize import InvalidSmilesError, MoleculeFeaturizer, graphs_key
from graphmeta.data.graphs import GraphStore

__all__ = ["GraphInputs", "as_graph_inputs", "featurize_molecules", "molecule_items", "invalid_molecules_error"]

#: Invalid rows listed in an error message before "... and N more".
_SHOWN = 5


@dataclass
class GraphInputs:
    """Graphs in a :class:`GraphStore`, with their SMILES when they are molecules (for fingerprints).

    Attributes:
        graphs: the featurized graphs, in input order.
        smiles: one SMILES per graph (canonical for RDKit inputs), or ``None`` for non-molecular graphs.
        featurizer: :attr:`MoleculeFeaturizer.cache_key` of the graphs (``None`` for PyG ``Data`` inputs).
    """

    graphs: GraphStore
    smiles: list[str] | None = None
    featurizer: str | None = None

    def __len__(self) -> int:
        return len(self.graphs)

    def subset(self, index: Sequence[int] | np.ndarray) -> "GraphInputs":
        """The graphs at ``index`` (in that order)."""
        index = np.asarray(index, dtype=np.int64)
        smiles = [self.smiles[i] for i in index] if self.smiles is not None else None
        return GraphInputs(self.graphs.subset(index.tolist()), smiles, self.featurizer)

    @classmethod
    def from_collection(cls, collection: Any, graph_ids: Sequence[int] | np.ndarray | Any) -> "GraphInputs":
        """The graphs ``graph_ids`` of a :class:`~graphmeta.data.tasks.TaskCollection` (with their SMILES)."""
        ids = np.asarray(graph_ids, dtype=np.int64)
        smiles = [collection.smiles[i] for i in ids] if collection.smiles is not None else None
        return cls(collection.graphs.subset(ids.tolist()), smiles, collection.featurizer)

    @classmethod
    def concat(cls, parts: Sequence["GraphInputs"]) -> "GraphInputs":
        """``parts`` one after the other (their known featurizers must agree, up to the sanitization mode, which decides
        which molecules are accepted, not their graphs; PyG inputs have none). Strict and lenient parts together are
        labelled lenient: the combined graphs may hold molecules only lenient sanitization accepts."""
        keys = {p.featurizer for p in parts if p.featurizer is not None}
        if len({graphs_key(k) for k in keys}) > 1:
            raise ValueError(f"cannot combine graphs from different featurizers: {sorted(map(str, keys))}")
        smiles = (None if any(p.smiles is None for p in parts)
                  else [s for p in parts for s in p.smiles])  # type: ignore[union-attr]
        key = next(iter(sorted(keys, key=lambda k: "-lenient" not in k)), None)  # lenient first, if any
        return cls(GraphStore.concat([p.graphs for p in parts]), smiles, key)


def _items(X: Any, name: str) -> list[Any]:
    if isinstance(X, GraphInputs):
        return [X]
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} is a single string; pass a list of SMILES (e.g. [{X!r}])")
    if isinstance(X, Data):
        raise TypeError(f"{name} is a single graph; pass a list of Data objects")
    try:
        import pandas as pd

        if isinstance(X, pd.DataFrame):
            if X.shape[1] != 1:
                raise TypeError(f"{name} is a DataFrame with {X.shape[1]} columns; pass the SMILES column (a Series)")
            X = X.iloc[:, 0]
        if isinstance(X, pd.Series):
            X = X.tolist()
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(X, np.ndarray):
        if X.ndim != 1:
            raise TypeError(f"{name} must be one-dimensional (one molecule or graph per row), got shape {X.shape}")
        X = X.tolist()
    try:
        return list(X)
    except TypeError:
        raise TypeError(f"{name} must be a list of SMILES strings, RDKit molecules or PyG Data objects, "
                        f"got {type(X).__name__}") from None


def molecule_items(X: Any, name: str = "X") -> list[Any] | None:
    """``X``'s entries as a list when they are all SMILES strings or RDKit molecules (inputs that can be featurized
    in independent slices), else ``None`` (PyG graphs, :class:`GraphInputs`, mixtures: see :func:`as_graph_inputs`)."""
    from rdkit import Chem

    items = _items(X, name)
    return items if items and all(isinstance(item, (str, Chem.Mol)) for item in items) else None


def as_graph_inputs(X: Any, featurizer: MoleculeFeaturizer | None = None, name: str = "X",
                    n_jobs: int | None = None) -> GraphInputs:
    """``X`` as :class:`GraphInputs`.

    Args:
        X: SMILES strings, RDKit ``Mol`` objects or PyG ``Data`` graphs (a list, tuple, 1-D array, pandas Series
            or one-column DataFrame), or a :class:`GraphInputs` (returned as is).
        featurizer: featurizer for SMILES / RDKit inputs (default ``MoleculeFeaturizer()``).
        name: what to call ``X`` in error messages (``"support"``, ``"query"``...).
        n_jobs: worker processes featurizing a long list of molecules (``-1``: every CPU; default one).

    Raises:
        InvalidSmilesError: naming the positions (0-based) and SMILES of the invalid entries.
        TypeError: for inputs that are not one of the above, or a mixture of kinds.
        ValueError: for an empty ``X``.
    """
    items = _items(X, name)
    if len(items) == 1 and isinstance(items[0], GraphInputs):
        return items[0]
    if not items:
        raise ValueError(f"{name} is empty: pass at least one molecule or graph")
    if all(isinstance(item, Data) for item in items):
        smiles = [getattr(d, "smiles", None) for d in items]
        return GraphInputs(GraphStore.from_data_list(items),
                           smiles if all(isinstance(s, str) for s in smiles) else None)  # type: ignore[arg-type]
    from rdkit import Chem

    kinds = {type(item).__name__ for item in items if not isinstance(item, (str, Chem.Mol))}
    if kinds:
        raise TypeError(f"{name} must hold only SMILES strings or RDKit molecules (or only PyG Data graphs); found "
                        f"{', '.join(sorted(kinds))}")
    inputs, invalid = featurize_molecules(items, featurizer, n_jobs)
    if invalid:
        raise invalid_molecules_error(name, invalid, len(items))
    return inputs


def invalid_molecules_error(name: str, invalid: dict[int, str], n: int) -> InvalidSmilesError:
    """The error for ``invalid`` (``{0-based position: reason}``) among the ``n`` molecules of ``name``."""
    shown = "; ".join(f"row {i}: {reason}" for i, reason in sorted(invalid.items())[:_SHOWN])
    more = f" ... and {len(invalid) - _SHOWN} more" if len(invalid) > _SHOWN else ""
    return InvalidSmilesError(f"{name}: {len(invalid)} of {n} molecules are invalid ({shown}{more}); fix or remove "
                              f"them (rows are 0-based positions)")


def featurize_molecules(molecules: Sequence[Any], featurizer: MoleculeFeaturizer | None = None,
                        n_jobs: int | None = None, progress: bool = False) -> tuple[GraphInputs, dict[int, str]]:
    """The valid ones of ``molecules`` (SMILES or RDKit ``Mol``) as :class:`GraphInputs`, and
    ``{position: reason}`` of the invalid ones (for callers that report them per row instead of raising);
    ``progress``: a progress bar (one process only; forked workers show none)."""
    from rdkit import Chem

    featurizer = featurizer or MoleculeFeaturizer()
    prepared = [m.strip() if isinstance(m, str) else m for m in molecules]
    feats, invalid = featurizer.featurize_many(prepared, progress=progress, total=len(prepared), n_jobs=n_jobs)
    smiles = [m if isinstance(m, str) else Chem.MolToSmiles(m) for i, m in enumerate(prepared) if i not in invalid]
    return GraphInputs(GraphStore.from_featurized(feats), smiles, featurizer.cache_key), invalid
