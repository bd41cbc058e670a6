"""A fixed set of cheap RDKit 2D descriptors: whole-molecule properties to feed beside the GNN readout.

MHNfs and other strong few-shot models feed RDKit descriptors (logP, polar surface, size, ring and group
counts...) beside fingerprints: a mean readout over atoms normalizes size away and learns whole-molecule
physico-chemistry only slowly. :data:`DESCRIPTOR_NAMES` lists them, by their names in
``rdkit.Chem.Descriptors._descList``; :func:`compute_descriptors` gives their raw values (unscaled: the model
scales them, see :class:`graphmeta.nn.descriptors.DescriptorScaler`).

The set was chosen for cost. Timed per molecule (CPU time, best of 5) on the 1,000 first valid molecules of
RDKit's ``Data/NCI/first_5K.smi``, each descriptor on freshly parsed molecules so that nothing comes from RDKit's
per-molecule caches, on a 2-core AMD EPYC that other jobs kept busy: the whole set takes **~0.42 ms per molecule**
(parsing the SMILES took 62 us in the same run, 46 us on a quiet machine, so ~0.3-0.35 ms when quiet);
``featurize_many`` went from 0.14 to 0.58 ms per molecule with ``descriptors=True``. The largest shares are
MolLogP + MolMR (one ``CalcCrippenDescriptors`` call, ~0.17-0.2 ms: Crippen atom typing on a copy with explicit
hydrogens), NumRotatableBonds (~0.06-0.1 ms, SMARTS based), NumHAcceptors (~0.03 ms) and the 14 PEOE_VSA bins
(one call, ~0.03 ms); everything else costs 1-7 us. Left out as too slow for what they add: ``qed`` (~0.9 ms),
the ``BCUT2D_*`` (~0.3 ms each), ``Ipc`` and ``AvgIpc`` (~0.1-0.2 ms, ``Ipc`` overflows), ``BertzCT``, the
E-state indices and ``VSA_EState*``/``EState_VSA*`` bins (~0.15-0.3 ms), the ``SlogP_VSA*``/``SMR_VSA*`` bins
(~0.15 ms: a second Crippen typing; MolLogP/MolMR keep its gist), ``Max/MinPartialCharge`` (~0.07 ms; the
PEOE_VSA bins keep the charge distribution), ``BalabanJ``, ``Kappa2``/``Kappa3``, ``Chi2``-``Chi4``,
``NumValenceElectrons``, ``FpDensityMorgan*``, and most ``fr_*`` group counts (5-10 us each, and ECFP bits
already say which substructures occur).

Groups (54 descriptors): size and composition, ring counts, lipophilicity / refractivity / polar and total
surface, topological shape (Kier-Hall), Gasteiger-charge surface bins, and six functional-group counts.

Values are computed on the molecule the graph is made of (with ``add_hydrogens``, hydrogens are atoms of it,
which changes e.g. the Chi and Kappa indices). A descriptor that raises or gives NaN/inf yields NaN (never an
error), so callers can count such molecules (:attr:`~graphmeta.data.featurize.FeaturizedMolecules.descriptor_nonfinite`)
and the scaler maps them to the training median. :data:`DESCRIPTOR_SET_VERSION` changes whenever the list or
the way values are computed changes; it is part of the featurizer's cache key, so cached datasets are rebuilt.
Values may differ slightly between RDKit versions (RDKit's own descriptor definitions change now and then).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors, rdMolDescriptors

__all__ = ["DESCRIPTOR_NAMES", "DESCRIPTOR_SET_VERSION", "compute_descriptors", "descriptor_function",
           "append_descriptors", "as_descriptor_array"]

#: Bumped whenever :data:`DESCRIPTOR_NAMES` or the computation changes (a featurizer cache key part).
DESCRIPTOR_SET_VERSION: str = "1"

_PEOE_VSA = tuple(f"PEOE_VSA{i}" for i in range(1, 15))

#: The descriptors, in the column order of :func:`compute_descriptors` (names of ``Descriptors._descList``).
DESCRIPTOR_NAMES: tuple[str, ...] = (
    # size and composition
    "MolWt", "HeavyAtomMolWt", "HeavyAtomCount", "NumHeteroatoms", "NHOHCount", "NOCount", "NumHDonors",
    "NumHAcceptors", "NumRotatableBonds", "FractionCSP3", "NumAmideBonds", "NumAtomStereoCenters",
    # rings
    "RingCount", "NumAromaticRings", "NumAliphaticRings", "NumSaturatedRings", "NumAromaticHeterocycles",
    "NumAromaticCarbocycles", "NumAliphaticHeterocycles", "NumAliphaticCarbocycles", "NumSaturatedHeterocycles",
    "NumSaturatedCarbocycles", "NumSpiroAtoms", "NumBridgeheadAtoms",
    # lipophilicity, molar refractivity, polar and total surface
    "MolLogP", "MolMR", "TPSA", "LabuteASA",
    # topological shape (Kier-Hall)
    "HallKierAlpha", "Kappa1", "Chi0n", "Chi1n", "Chi0v", "Chi1v",
    # surface area in Gasteiger partial-charge bins
    *_PEOE_VSA,
    # functional-group counts
    "fr_halogen", "fr_Al_OH", "fr_phenol", "fr_COO", "fr_NH2", "fr_nitro",
)

_DESC_LIST: dict[str, Callable[[Chem.Mol], float]] = dict(Descriptors._descList)


def descriptor_function(name: str) -> Callable[[Chem.Mol], float]:
    """RDKit's function for descriptor ``name`` (as listed in ``rdkit.Chem.Descriptors._descList``)."""
    try:
        return _DESC_LIST[name]
    except KeyError:
        raise KeyError(f"RDKit has no descriptor {name!r} in rdkit.Chem.Descriptors._descList") from None


def _blocks() -> tuple[tuple[int, Callable[[Chem.Mol], Sequence[float]]], ...]:
    """``(width, function)`` pairs that together give :data:`DESCRIPTOR_NAMES` in order. Descriptors RDKit computes
    together are one call: MolLogP and MolMR are ``CalcCrippenDescriptors``, the PEOE_VSA bins are ``PEOE_VSA_``
    (exactly what the ``Descriptors`` functions of those names return, one call instead of 2 or 14)."""
    blocks: list[tuple[int, Callable[[Chem.Mol], Sequence[float]]]] = []
    names = list(DESCRIPTOR_NAMES)
    i = 0
    while i < len(names):
        name = names[i]
        if name == "MolLogP" and names[i + 1] == "MolMR":
            blocks.append((2, rdMolDescriptors.CalcCrippenDescriptors))
            i += 2
        elif name == _PEOE_VSA[0] and tuple(names[i:i + len(_PEOE_VSA)]) == _PEOE_VSA:
            blocks.append((len(_PEOE_VSA), rdMolDescriptors.PEOE_VSA_))
            i += len(_PEOE_VSA)
        else:
            function = descriptor_function(name)
            blocks.append((1, lambda mol, f=function: (f(mol),)))
            i += 1
    return tuple(blocks)


_BLOCKS = _blocks()
_NAN = float("nan")


def append_descriptors(mol: Chem.Mol, out: list[float]) -> None:
    """Appends the raw values of :data:`DESCRIPTOR_NAMES` for ``mol`` to ``out`` (NaN where a descriptor raises).

    The flat-list form lets :meth:`~graphmeta.data.featurize.MoleculeFeaturizer.featurize_many` convert once.
    """
    for width, function in _BLOCKS:
        try:
            out += function(mol)
        except Exception:  # noqa: BLE001 -- any RDKit failure is a missing value: NaN, counted by the callers
            out += (_NAN,) * width


def as_descriptor_array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Flat raw values -> ``[n, len(DESCRIPTOR_NAMES)]`` float32 with every non-finite value (also an overflow of
    float32) as NaN."""
    array = np.asarray(values, dtype=np.float64).reshape(-1, len(DESCRIPTOR_NAMES))
    with np.errstate(over="ignore"):
        array = array.astype(np.float32)
    array[~np.isfinite(array)] = np.nan
    return array


def compute_descriptors(mol: Chem.Mol) -> np.ndarray:
    """The raw descriptor values of one molecule, ``[len(DESCRIPTOR_NAMES)]`` float32 (NaN: not computable)."""
    out: list[float] = []
    append_descriptors(mol, out)
    return as_descriptor_array(out)[0]
