"""Molecular featurization: SMILES / RDKit molecules -> categorical graph tensors.

Atoms and bonds are described by small *categorical* features (integer indices), meant to be embedded
by the model (``nn.Embedding`` per column), not fed raw: raw integer features in a sum-aggregating GNN blow
up within a few layers. Every column has a fixed vocabulary size (:attr:`MoleculeFeaturizer.atom_vocab`,
:attr:`MoleculeFeaturizer.bond_vocab`); out-of-range values are clipped into the last bucket.

Atom columns: element (atomic number), degree, formal charge, hybridization, aromaticity, total H count,
chirality tag, ring membership. Bond columns: bond type, conjugation, ring membership, stereo.

The featurizer is deterministic (atoms in RDKit order, each bond as two directed edges ``u->v, v->u``
in bond order) and avoids per-atom tensor work: features are gathered into flat Python lists and converted
once, which is what makes it several times faster than :func:`torch_geometric.utils.from_smiles`.

Optional graph-level inputs (one row per molecule, beside the graph): ECFP4 bits (``fingerprint_bits``) and the
raw values of cheap RDKit 2D descriptors (``descriptors=True``, :mod:`graphmeta.data.descriptors`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Literal, Sequence

import numpy as np
import torch
from rdkit import Chem, RDLogger
from torch_geometric.data import Data

from graphmeta.data.descriptors import DESCRIPTOR_SET_VERSION, append_descriptors, as_descriptor_array
from graphmeta.data.vocab import ATOM_FEATURES, ATOM_VOCAB, BOND_FEATURES, BOND_VOCAB
from graphmeta.parallel import chunk_bounds, fork_map, resolve_workers

__all__ = ["InvalidSmilesError", "LenientSanitizationWarning", "MoleculeFeaturizer", "FeaturizedMolecules",
           "SANITIZE_MODES", "Sanitize", "check_sanitize", "featurizer_version", "morgan_generator", "warn_nonfinite_descriptors",
           "graphs_key", "atoms_and_bonds_key", "ATOM_FEATURES", "BOND_FEATURES"]

#: How SMILES are sanitized: ``"strict"`` (RDKit's full sanitization, valence check included: what user inputs get
#: by default) or ``"lenient"`` (a SMILES failing it is retried without the valence check: for the registered
#: datasets, whose files hold a few such molecules, each counted in ``collection.notes``).
Sanitize = Literal["strict", "lenient"]
SANITIZE_MODES: tuple[str, ...] = ("strict", "lenient")

#: Shortest input :meth:`MoleculeFeaturizer.featurize_many` splits over worker processes (below it, the
#: process start-up costs more than it saves).
PARALLEL_MIN = 2000

# RDKit bond order (GetBondTypeAsDouble, cheaper than the BondType enum) -> bond_type category;
# 4 = any other type (dative, ionic, zero, ...).
_BOND_TYPE = {1.0: 0, 2.0: 1, 3.0: 2, 1.5: 3}
# SMILES characters that can carry stereo information: chirality '@', double-bond direction '/' '\\', and
# '|' which opens a CXSMILES extension (|t:..|, |w:..|, coordinates...) that can set stereo too.
_STEREO_CHARS = frozenset("@/\\|")


@lru_cache(maxsize=8)
def morgan_generator(radius: int, n_bits: int) -> Any:
    """RDKit's Morgan (ECFP) fingerprint generator, ``radius`` 2 = ECFP4, folded to ``n_bits`` (one per setting)."""
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def featurizer_version(key: str | None) -> str | None:
    """The version part of a featurizer's :attr:`~MoleculeFeaturizer.cache_key` (``"1"`` in
    ``graphmeta-categorical-v1-h0-lenient``); ``None`` for graphs that no featurizer made (e.g. TU data)."""
    if key is None:
        return None
    match = re.search(r"-v([^-]+)-h\d", key)
    return match.group(1) if match else None


#: The graph-level parts a :attr:`~MoleculeFeaturizer.cache_key` may end with: ECFP4 bits, then descriptors.
_GRAPH_LEVEL_KEY = re.compile(r"(?:-ecfp4x(?P<bits>\d+))?(?:-rdkit2dv(?P<descriptors>[^-]+))?$")


#: The sanitization part of a :attr:`~MoleculeFeaturizer.cache_key` (``-lenient`` in ``...-v1-h0-lenient``).
_SANITIZE_KEY = re.compile(r"(-h\d)-(?:lenient|strict)")


def graphs_key(key: str | None) -> str | None:
    """A featurizer's :attr:`~MoleculeFeaturizer.cache_key` without its sanitization mode: featurizers with equal keys
    here make the same graph of every molecule both accept (the mode decides which molecules are accepted, not their
    features), so a model trained on graphs of one reads graphs of the other."""
    return None if key is None else _SANITIZE_KEY.sub(r"\1", key, count=1)


def atoms_and_bonds_key(key: str | None) -> str | None:
    """A featurizer's :attr:`~MoleculeFeaturizer.cache_key` without its fingerprint and descriptor parts: featurizers
    with equal keys here make the same atom and bond tensors (a backbone pretrained on one fits graphs from the
    other; compare their :func:`graphs_key` to ignore the sanitization mode too)."""
    return None if key is None else _GRAPH_LEVEL_KEY.sub("", key, count=1)


class InvalidSmilesError(ValueError):
    """Raised when a SMILES string cannot be parsed (and sanitized) by RDKit."""


class LenientSanitizationWarning(UserWarning):
    """Molecules were kept only because lenient sanitization skipped RDKit's valence check (see ``collection.notes``)."""


@dataclass
class FeaturizedMolecules:
    """Many molecules featurized into flat arrays (one concatenation, no per-molecule tensors).

    ``x[node_ptr[i]:node_ptr[i+1]]`` are the atoms of molecule ``i``; ``edge_index`` holds *local* atom
    indices (0-based within each molecule); ``edge_ptr`` delimits each molecule's edges.
    """

    x: np.ndarray  # [n_atoms, len(ATOM_FEATURES)] int64
    edge_index: np.ndarray  # [2, n_edges] int64, local indices
    edge_attr: np.ndarray  # [n_edges, len(BOND_FEATURES)] int64
    node_ptr: np.ndarray  # [n_molecules + 1] int64
    edge_ptr: np.ndarray  # [n_molecules + 1] int64
    fingerprint: np.ndarray | None = None  # [n_molecules, fingerprint_bits] uint8 0/1, from a featurizer with them
    descriptors: np.ndarray | None = None  # [n_molecules, len(DESCRIPTOR_NAMES)] float32 raw values, NaN: missing
    #: Molecules with at least one non-finite (NaN) descriptor value (0 without descriptors): reported, not hidden.
    descriptor_nonfinite: int = 0
    #: Input positions (0-based, among all inputs) of the molecules kept only by lenient sanitization.
    lenient: list[int] = field(default_factory=list)


class MoleculeFeaturizer:
    r"""Turns SMILES strings or RDKit molecules into graphs with categorical atom and bond features.

    Args:
        add_hydrogens (bool, optional): make hydrogens explicit atoms. (default: :obj:`False`)
        sanitize (str, optional): ``"lenient"`` retries a SMILES that fails RDKit's full sanitization without
            the valence check (so hypervalent metal complexes that older RDKit versions accepted, such as 8
            Tox21 and 7 HIV molecules, are kept: all other sanitization steps still run, and
            :meth:`featurize_many` lists them in :attr:`FeaturizedMolecules.lenient`); ``"strict"`` rejects them,
            and RDKit molecules with an impossible valence too. Unparseable text fails in both modes. The loaders
            of user files and :class:`~graphmeta.predictor.FewShotClassifier` take their own ``sanitize`` argument
            (default ``"strict"``) that replaces this one (:meth:`with_sanitize`); this class's default suits the
            registered datasets. (default: :obj:`"lenient"`)
        fingerprint_bits (int, optional): also give each molecule its ECFP4 bits (Morgan radius 2, folded to this
            many bits) as the graph-level field ``fingerprint`` ``[1, fingerprint_bits]`` ``uint8``: a backbone
            built with ``fingerprint_channels`` feeds them beside the GNN readout, as FS-Mol's ProtoNet does
            (``0``: none). They are computed on the molecule the graph is made of (with ``add_hydrogens``, its
            hydrogens are atoms of the fingerprint too). (default: ``0``)
        descriptors (bool, optional): also give each molecule the raw values of the cheap RDKit 2D descriptors of
            :mod:`graphmeta.data.descriptors` (~0.4 ms per molecule) as the graph-level field ``descriptors``
            ``[1, len(DESCRIPTOR_NAMES)]`` ``float32`` (NaN where RDKit cannot compute one): a backbone built with
            ``descriptor_channels`` scales them robustly and feeds them beside the GNN readout. Computed on the
            molecule the graph is made of, like fingerprints; combinable with them. (default: :obj:`False`)

    Shapes:
        - **output:** :class:`~torch_geometric.data.Data` with ``x`` :math:`(|V|, 8)` long,
          ``edge_index`` :math:`(2, 2|B|)` long, ``edge_attr`` :math:`(2|B|, 4)` long and ``smiles``.

    Example:
        >>> data = MoleculeFeaturizer()("CCO")
        >>> data.x.shape, data.edge_index.shape
        (torch.Size([3, 8]), torch.Size([2, 4]))
    """

    #: Bumped whenever the features change, so that cached featurized datasets are rebuilt.
    version: str = "1"
    name: str = "graphmeta-categorical"
    atom_vocab: tuple[int, ...] = ATOM_VOCAB
    bond_vocab: tuple[int, ...] = BOND_VOCAB

    def __init__(self, add_hydrogens: bool = False, sanitize: Sanitize = "lenient",
                 fingerprint_bits: int = 0, descriptors: bool = False) -> None:
        check_sanitize(sanitize)
        if isinstance(fingerprint_bits, bool) or not isinstance(fingerprint_bits, int) or fingerprint_bits < 0:
            raise ValueError(f"fingerprint_bits must be a non-negative integer, got {fingerprint_bits!r}")
        if not isinstance(descriptors, bool):
            raise ValueError(f"descriptors must be True or False, got {descriptors!r}")
        self.add_hydrogens = add_hydrogens
        self.sanitize = sanitize
        self.fingerprint_bits = fingerprint_bits
        self.descriptors = descriptors

    def __repr__(self) -> str:
        bits = f", fingerprint_bits={self.fingerprint_bits}" if self.fingerprint_bits else ""
        descriptors = ", descriptors=True" if self.descriptors else ""
        return (f"{self.__class__.__name__}(add_hydrogens={self.add_hydrogens}, sanitize={self.sanitize!r}{bits}"
                f"{descriptors})")

    def with_sanitize(self, sanitize: Sanitize | None) -> "MoleculeFeaturizer":
        """This featurizer with sanitization ``sanitize`` (itself when it already has it, or for ``None``)."""
        if sanitize is None or sanitize == self.sanitize:
            return self
        return type(self)(self.add_hydrogens, sanitize, self.fingerprint_bits, self.descriptors)

    @property
    def cache_key(self) -> str:
        """A string that changes whenever the featurizer would produce different tensors (descriptors: their set's
        :data:`~graphmeta.data.descriptors.DESCRIPTOR_SET_VERSION` is part of it)."""
        bits = f"-ecfp4x{self.fingerprint_bits}" if self.fingerprint_bits else ""
        descriptors = f"-rdkit2dv{DESCRIPTOR_SET_VERSION}" if self.descriptors else ""
        return f"{self.name}-v{self.version}-h{int(self.add_hydrogens)}-{self.sanitize}{bits}{descriptors}"

    @classmethod
    def from_cache_key(cls, key: str) -> "MoleculeFeaturizer":
        """The featurizer whose :attr:`cache_key` is ``key`` (e.g. the one a model was trained with).

        Raises ``ValueError`` for another featurizer or another version of this one: its graphs would not be
        what the model saw in training.
        """
        match = _GRAPH_LEVEL_KEY.search(key)
        bits = int(match.group("bits")) if match and match.group("bits") else 0
        descriptors = bool(match and match.group("descriptors"))
        for add_hydrogens in (False, True):
            for sanitize in ("lenient", "strict"):
                featurizer = cls(add_hydrogens=add_hydrogens, sanitize=sanitize,  # type: ignore[arg-type]
                                 fingerprint_bits=bits, descriptors=descriptors)
                if featurizer.cache_key == key:
                    return featurizer
        raise ValueError(f"featurizer {key!r} is not available in this graphmeta (it has {cls.name} version "
                         f"{cls.version}, descriptor set version {DESCRIPTOR_SET_VERSION}); the model was trained on "
                         f"graphs this version cannot produce")

    # -- parsing ---------------------------------------------------------------------------------------
    def parse(self, smiles: str) -> Chem.Mol:
        """Parses and sanitizes one SMILES string; raises :class:`InvalidSmilesError` when RDKit cannot."""
        return self._parse(smiles)[0]

    def _parse(self, smiles: str) -> tuple[Chem.Mol, bool]:
        """``(molecule, kept only by lenient sanitization)``."""
        if not isinstance(smiles, str) or not smiles.strip():
            raise InvalidSmilesError(f"empty or non-string SMILES: {smiles!r}")
        lenient = False
        RDLogger.DisableLog("rdApp.*")
        try:
            mol = Chem.MolFromSmiles(smiles)
            if mol is None and self.sanitize == "lenient":
                mol = _parse_without_valence_check(smiles)
                lenient = mol is not None
        except (UnicodeError, RuntimeError, TypeError) as err:  # e.g. lone surrogates RDKit cannot encode
            raise InvalidSmilesError(f"RDKit cannot read SMILES {smiles!r} ({type(err).__name__}: {err})") from None
        finally:
            RDLogger.EnableLog("rdApp.*")
        if mol is None:
            strict = self.sanitize == "strict" and _parse_without_valence_check(smiles, quiet=True) is not None
            raise InvalidSmilesError(f"RDKit cannot parse or sanitize SMILES {smiles!r}" + (
                " (an atom beyond its allowed valence; lenient sanitization would skip that check)" if strict else ""))
        if mol.GetNumAtoms() == 0:
            raise InvalidSmilesError(f"SMILES {smiles!r} has no atoms")
        return mol, lenient

    def _prepare(self, mol_or_smiles: str | Chem.Mol) -> tuple[Chem.Mol, bool]:
        """``(molecule to featurize, kept only by lenient sanitization)``."""
        if isinstance(mol_or_smiles, Chem.Mol):
            mol = mol_or_smiles
            if mol.GetNumAtoms() == 0:
                raise InvalidSmilesError("molecule has no atoms")
            mol, lenient = _checked_valences(mol, self.sanitize)
        else:
            mol, lenient = self._parse(mol_or_smiles)
        if self.add_hydrogens:
            mol = Chem.AddHs(mol)
        return mol, lenient

    # -- features ----------------------------------------------------------------------------------------
    @staticmethod
    def _append_features(
        mol: Chem.Mol,
        stereo_free: bool,
        atoms: list[int],
        bonds: list[int],
        src: list[int],
        dst: list[int],
    ) -> tuple[int, int]:
        """Appends the flat atom/bond feature values and directed edges of ``mol``; returns (n_atoms, n_edges).

        ``stereo_free`` is True when the molecule was parsed from a SMILES without ``@``, ``/``, ``\\`` or ``|``:
        RDKit then sets no chiral tag and no bond stereo, so those two getters (the slowest ones, they
        build Python enum objects) are skipped. A property test checks this shortcut against the getters.
        """
        n_atoms = mol.GetNumAtoms()
        get_atom = mol.GetAtomWithIdx
        # Raw values (enums converted with int(): numpy converts plain ints much faster); clipping into the vocabularies is done afterwards on whole
        # arrays by _clip_atoms/_clip_bonds, which is much cheaper than per-value min()/max() calls.
        for i in range(n_atoms):
            atom = get_atom(i)
            atoms += (
                atom.GetAtomicNum(),
                atom.GetDegree(),
                atom.GetFormalCharge(),
                int(atom.GetHybridization()),
                atom.GetIsAromatic(),
                atom.GetTotalNumHs(),
                0 if stereo_free else int(atom.GetChiralTag()),
                atom.IsInRing(),
            )
        n_edges = 0
        get_bond = mol.GetBondWithIdx  # faster than iterating mol.GetBonds(), a Python-level sequence wrapper
        for j in range(mol.GetNumBonds()):
            bond = get_bond(j)
            u = bond.GetBeginAtomIdx()
            v = bond.GetEndAtomIdx()
            src += (u, v)
            dst += (v, u)
            feats = (
                _BOND_TYPE.get(bond.GetBondTypeAsDouble(), 4),
                bond.GetIsConjugated(),
                bond.IsInRing(),
                0 if stereo_free else int(bond.GetStereo()),
            )
            bonds += feats
            bonds += feats
            n_edges += 2
        return n_atoms, n_edges

    def _featurize_into(
        self, item: str | Chem.Mol, atoms: list[int], bonds: list[int], src: list[int], dst: list[int],
        fingerprints: list[np.ndarray] | None = None, descriptors: list[float] | None = None,
    ) -> tuple[int, int, bool]:
        """Appends one molecule; ``(n_atoms, n_edges, kept only by lenient sanitization)``."""
        mol, lenient = self._prepare(item)
        stereo_free = isinstance(item, str) and not _STEREO_CHARS.intersection(item)
        n_atoms, n_edges = self._append_features(mol, stereo_free, atoms, bonds, src, dst)
        if fingerprints is not None:
            fingerprints.append(morgan_generator(2, self.fingerprint_bits).GetFingerprintAsNumPy(mol))
        if descriptors is not None:
            append_descriptors(mol, descriptors)
        return n_atoms, n_edges, lenient

    def _fingerprint_list(self) -> list[np.ndarray] | None:
        return [] if self.fingerprint_bits else None

    def _stack_fingerprints(self, fingerprints: list[np.ndarray] | None) -> np.ndarray | None:
        if fingerprints is None:
            return None
        if not fingerprints:
            return np.zeros((0, self.fingerprint_bits), dtype=np.uint8)
        return np.stack(fingerprints).astype(np.uint8, copy=False)

    def _descriptor_list(self) -> list[float] | None:
        return [] if self.descriptors else None

    def __call__(self, mol_or_smiles: str | Chem.Mol) -> Data:
        """Featurizes one molecule (SMILES string or RDKit ``Mol``) into a :class:`Data` graph."""
        atoms: list[int] = []
        bonds: list[int] = []
        src: list[int] = []
        dst: list[int] = []
        fingerprints = self._fingerprint_list()
        descriptors = self._descriptor_list()
        n, e, _ = self._featurize_into(mol_or_smiles, atoms, bonds, src, dst, fingerprints, descriptors)
        flat_np = np.array(atoms + src + dst + bonds, dtype=np.int64)
        a, b = n * len(ATOM_FEATURES), n * len(ATOM_FEATURES) + 2 * e
        _clip_atoms(flat_np[:a].reshape(n, len(ATOM_FEATURES)))
        _clip_bonds(flat_np[b:].reshape(e, len(BOND_FEATURES)))
        flat = torch.from_numpy(flat_np)
        smiles = mol_or_smiles if isinstance(mol_or_smiles, str) else Chem.MolToSmiles(mol_or_smiles)
        data = Data(
            x=flat[:a].view(n, len(ATOM_FEATURES)),
            edge_index=flat[a:b].view(2, e),
            edge_attr=flat[b:].view(e, len(BOND_FEATURES)),
            smiles=smiles,
        )
        stacked = self._stack_fingerprints(fingerprints)
        if stacked is not None:
            data.fingerprint = torch.from_numpy(stacked)
        if descriptors is not None:
            data.descriptors = torch.from_numpy(as_descriptor_array(descriptors))
        return data

    def featurize_many(
        self,
        molecules: Iterable[str | Chem.Mol],
        progress: bool = False,
        total: int | None = None,
        n_jobs: int | None = None,
    ) -> tuple[FeaturizedMolecules, dict[int, str]]:
        """Featurizes many molecules into flat arrays.

        Invalid entries are not silently dropped: they are returned as ``{position: reason}`` so the
        caller can count, report, or raise (see the dataset loaders). Valid molecules keep their order; those kept
        only by lenient sanitization are listed in :attr:`FeaturizedMolecules.lenient`, for the caller to report.
        With descriptors, molecules with a descriptor RDKit could not compute (NaN) are kept and counted in
        :attr:`FeaturizedMolecules.descriptor_nonfinite`.

        ``n_jobs`` > 1 (``-1``: every CPU) splits a long list (at least :data:`PARALLEL_MIN` molecules) over that
        many forked worker processes; the result is identical. Where ``fork`` is unavailable it runs serially.
        """
        workers = resolve_workers(n_jobs)
        if workers > 1:
            items = list(molecules)
            if len(items) >= PARALLEL_MIN:
                bounds = chunk_bounds(len(items), workers)
                parts = fork_map(self.featurize_many, [items[a:b] for a, b in bounds], workers)
                return _concat_featurized(parts, [a for a, _ in bounds])
            molecules = items
        from tqdm.auto import tqdm

        atoms: list[int] = []
        bonds: list[int] = []
        src: list[int] = []
        dst: list[int] = []
        node_counts: list[int] = []
        edge_counts: list[int] = []
        invalid: dict[int, str] = {}
        lenient: list[int] = []
        fingerprints = self._fingerprint_list()
        descriptors = self._descriptor_list()
        iterator: Iterable = molecules
        if progress:
            iterator = tqdm(molecules, total=total, desc="featurizing", unit="mol", leave=False)
        for i, item in enumerate(iterator):
            try:
                n_atoms, n_edges, kept_leniently = self._featurize_into(item, atoms, bonds, src, dst, fingerprints,
                                                                        descriptors)
            except InvalidSmilesError as err:
                invalid[i] = str(err)
                continue
            if kept_leniently:
                lenient.append(i)
            node_counts.append(n_atoms)
            edge_counts.append(n_edges)
        x = np.asarray(atoms, dtype=np.int64).reshape(-1, len(ATOM_FEATURES))
        edge_attr = np.asarray(bonds, dtype=np.int64).reshape(-1, len(BOND_FEATURES))
        _clip_atoms(x)
        _clip_bonds(edge_attr)
        values = as_descriptor_array(descriptors) if descriptors is not None else None
        out = FeaturizedMolecules(
            x=x,
            edge_index=np.asarray([src, dst], dtype=np.int64).reshape(2, -1),
            edge_attr=edge_attr,
            node_ptr=_ptr(node_counts),
            edge_ptr=_ptr(edge_counts),
            fingerprint=self._stack_fingerprints(fingerprints),
            descriptors=values,
            descriptor_nonfinite=int(np.isnan(values).any(axis=1).sum()) if values is not None else 0,
            lenient=lenient,
        )
        return out, invalid


_ATOM_VOCAB = np.array(list(ATOM_FEATURES.values()), dtype=np.int64)
_BOND_VOCAB = np.array(list(BOND_FEATURES.values()), dtype=np.int64)
_CHARGE = list(ATOM_FEATURES).index("formal_charge")


def _clip_atoms(x: np.ndarray) -> None:
    """In place: shift formal charges (-5..5 -> 0..10) and clip every column into its vocabulary."""
    x[:, _CHARGE] += 5
    np.minimum(x, _ATOM_VOCAB - 1, out=x)  # two ufuncs: np.clip's Python overhead dominates on small arrays
    np.maximum(x, 0, out=x)


def _clip_bonds(edge_attr: np.ndarray) -> None:
    """In place: clip every bond column into its vocabulary."""
    np.minimum(edge_attr, _BOND_VOCAB - 1, out=edge_attr)  # bond values are never negative


def check_sanitize(sanitize: object) -> None:
    """``ValueError`` unless ``sanitize`` is one of :data:`SANITIZE_MODES`."""
    if sanitize not in SANITIZE_MODES:
        raise ValueError(f"sanitize must be 'strict' or 'lenient', got {sanitize!r}")


def _parse_without_valence_check(smiles: str, quiet: bool = False) -> Chem.Mol | None:
    """Parses and sanitizes everything but valences (RDKit's SANITIZE_PROPERTIES); ``None`` if that fails too."""
    if quiet:
        RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is None:
            return None
        mol.UpdatePropertyCache(strict=False)
        flags = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
        if Chem.SanitizeMol(mol, flags, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
            return None
        return mol
    except (UnicodeError, RuntimeError, TypeError):
        return None
    finally:
        if quiet:
            RDLogger.EnableLog("rdApp.*")


def _checked_valences(mol: Chem.Mol, sanitize: str) -> tuple[Chem.Mol, bool]:
    """A copy of an RDKit molecule with its valences computed, and whether only lenient sanitization accepts it (an
    atom beyond its allowed valence): :class:`InvalidSmilesError` for such a molecule when ``sanitize="strict"``."""
    mol = Chem.Mol(mol)
    RDLogger.DisableLog("rdApp.*")
    try:
        mol.UpdatePropertyCache(strict=True)
        return mol, False
    except (ValueError, RuntimeError):  # RDKit's AtomValenceException is a ValueError
        if sanitize == "strict":
            raise InvalidSmilesError(f"molecule {Chem.MolToSmiles(mol)!r} has an atom beyond its allowed valence "
                                     f"(lenient sanitization would accept it)") from None
        mol.UpdatePropertyCache(strict=False)
        return mol, True
    finally:
        RDLogger.EnableLog("rdApp.*")


def warn_nonfinite_descriptors(feats: FeaturizedMolecules, where: str) -> None:
    """Reports (``RuntimeWarning``) how many molecules of ``where`` have a descriptor RDKit could not compute: the
    molecules are kept, and the model reads those values as the training median."""
    if feats.descriptor_nonfinite:
        import warnings

        warnings.warn(f"{where}: {feats.descriptor_nonfinite} of {len(feats.node_ptr) - 1} molecules have a "
                      f"non-finite RDKit descriptor (kept; the model reads it as the training median)",
                      RuntimeWarning, stacklevel=3)


def _concat_featurized(parts: Sequence[tuple[FeaturizedMolecules, dict[int, str]]],
                       starts: Sequence[int]) -> tuple[FeaturizedMolecules, dict[int, str]]:
    """Chunks featurized separately (chunk ``k`` began at input position ``starts[k]``), as one result."""
    feats = [p[0] for p in parts]

    def ptr(ptrs: list[np.ndarray]) -> np.ndarray:
        return _ptr(np.concatenate([np.diff(q) for q in ptrs]).tolist())

    merged = FeaturizedMolecules(
        x=np.concatenate([f.x for f in feats]), edge_index=np.concatenate([f.edge_index for f in feats], axis=1),
        edge_attr=np.concatenate([f.edge_attr for f in feats]), node_ptr=ptr([f.node_ptr for f in feats]),
        edge_ptr=ptr([f.edge_ptr for f in feats]),
        fingerprint=None if feats[0].fingerprint is None else np.concatenate([f.fingerprint for f in feats]),
        descriptors=None if feats[0].descriptors is None else np.concatenate([f.descriptors for f in feats]),
        descriptor_nonfinite=sum(f.descriptor_nonfinite for f in feats),
        lenient=[start + i for f, start in zip(feats, starts) for i in f.lenient])
    invalid = {start + i: reason for (_, bad), start in zip(parts, starts) for i, reason in bad.items()}
    return merged, invalid


def _ptr(counts: Sequence[int]) -> np.ndarray:
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr
