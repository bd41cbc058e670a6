"""Property-based tests (hypothesis) of the molecular featurizer.

Random molecules come from ``hypothesis_rdkit.mols`` (BRICS fragments of ChEMBL recombined, often with
stereo centres); random text from ``st.text``. Properties: shapes and vocabularies on any valid molecule,
the stereo shortcut of the SMILES path equals the full getter path of the ``Mol`` path, determinism,
``featurize_many`` == per-molecule calls, and the documented :class:`InvalidSmilesError` on bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_rdkit import mols
from rdkit import Chem, RDLogger

from graphmeta.data.featurize import (
    ATOM_FEATURES,
    BOND_FEATURES,
    InvalidSmilesError,
    MoleculeFeaturizer,
)

FEATURIZER = MoleculeFeaturizer()
ATOM_VOCAB = torch.tensor(MoleculeFeaturizer.atom_vocab)
BOND_VOCAB = torch.tensor(MoleculeFeaturizer.bond_vocab)

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Characters SMILES is made of (no '|' or space: CXSMILES extensions are tested with fixed examples).
SMILES_ALPHABET = "CNOSPFIBrclnosp[]()=#$:.@/\\+-*%0123456789H"

STEREO_SMILES = [
    "C[C@H](N)C(=O)O",
    "C[C@@H](N)C(=O)O",
    "F/C=C/F",
    "F/C=C\\F",
    "C/C=C/C=C\\C",
    "C[C@@]1(O)CC[C@H](C)CC1",
    "C[C@H]1CC[C@@H](C)CC1",
    "C[C@H]1CCCC[C@@H]1O",
    "N[C@@H]1C[C@H]1C",
    "OC(=O)[C@@H]1CCCN1",
    # ring-closure stereo: the direction marks sit on the ring-closure digits
    "C1CCCCCCC/C=C/1",
    "C\\1=C/CCCCCCC1",
    "C/1=C/CCCCCC1",
    "[C@@H]12CCC[C@@H]1CCC2",
    "O[C@H]1CC[C@@H]2CCCC[C@@H]2C1",
    "C[C@]12CC[C@H]3[C@@H](CCC4=CC(=O)CC[C@@]43C)[C@@H]1CC[C@@H]2O",  # testosterone
    "F[C@H](Cl)Br",
    "[2H][C@@H](O)C",
    "C/C(F)=C(/Cl)Br",
    "CC/C=C/[C@@H](O)c1ccccc1",
]

# CXSMILES extensions that carry stereo without any '@', '/' or '\\' in the string: 't:'/'c:' mark ring
# double bonds trans/cis, 'w:' a wiggly (unknown) double bond, 'ctu:' an unspecified one, and atom
# coordinates (with or without wedges) let RDKit perceive tetrahedral centres.
CXSMILES_STEREO = [
    "C1CCC=CCCC1 |t:3|",
    "C1CCC=CCCC1 |c:3|",
    "CC=CC |w:1.0|",
    "CC=CC |ctu:1|",
    "CC(F)Cl |(0,0,;1,0,;2,0,;1,1,),wU:1.0|",
    "CC(F)(Cl)Br |(0.0,0.0,0.0;1.5,0.0,0.0;2.0,1.4,0.0;2.0,-0.7,1.2;2.0,-0.7,-1.2)|",
]

# (RDKit itself accepts some text with non-ASCII characters, e.g. "🧪CCO" and "CCO☃" parse as ethanol.)
INVALID_EXAMPLES = ["", "   ", "\n\t", "C1CC", "not a smiles", "C(C", "CC)", "C==C=", "[Xx]", "c1cc1",
                    "☃☃☃", "分子", "é", "\x00", "C\x00C"]
# Lone surrogates (what ``errors="surrogateescape"`` decoding leaves for undecodable bytes) cannot even be
# handed to RDKit: the str -> std::string conversion raises UnicodeEncodeError.
SURROGATE_EXAMPLES = ["C\ud800", "\udcff", "CC\udce9O"]
NON_STRINGS = [None, 123, 1.5, b"CCO", ["CCO"], object()]


def _quiet_parse(smiles: str, sanitize: bool = True) -> Chem.Mol | None:
    RDLogger.DisableLog("rdApp.*")
    try:
        return Chem.MolFromSmiles(smiles, sanitize=sanitize)
    finally:
        RDLogger.EnableLog("rdApp.*")


def _assert_valid_graph(data, n_atoms: int, n_bonds: int) -> None:
    x, edge_index, edge_attr = data.x, data.edge_index, data.edge_attr
    assert x.dtype == edge_index.dtype == edge_attr.dtype == torch.long
    assert x.shape == (n_atoms, len(ATOM_FEATURES))
    assert edge_index.shape == (2, 2 * n_bonds)
    assert edge_attr.shape == (2 * n_bonds, len(BOND_FEATURES))
    assert bool((x >= 0).all()) and bool((x < ATOM_VOCAB).all())
    assert bool((edge_attr >= 0).all()) and bool((edge_attr < BOND_VOCAB).all())
    if n_bonds:
        assert bool((edge_index >= 0).all()) and bool((edge_index < n_atoms).all())
        assert bool((edge_index[0] != edge_index[1]).all())
    # every directed edge has its reverse, with the same features: edges come as pairs u->v, v->u
    assert torch.equal(edge_index[0, 0::2], edge_index[1, 1::2])
    assert torch.equal(edge_index[1, 0::2], edge_index[0, 1::2])
    assert torch.equal(edge_attr[0::2], edge_attr[1::2])
    forward = set(map(tuple, edge_index.t().tolist()))
    assert forward == {(v, u) for u, v in forward}


def _assert_same_graph(a, b) -> None:
    """Same tensors; on failure, names the differing feature columns (short message)."""
    assert torch.equal(a.edge_index, b.edge_index), "edge_index differs"
    for name, columns, left, right in (("atom", ATOM_FEATURES, a.x, b.x), ("bond", BOND_FEATURES, a.edge_attr, b.edge_attr)):
        assert left.shape == right.shape, f"{name} feature shapes differ: {tuple(left.shape)} vs {tuple(right.shape)}"
        differ = [f"{col}: {left[:, j].tolist()} vs {right[:, j].tolist()}"
                  for j, col in enumerate(columns) if not torch.equal(left[:, j], right[:, j])]
        assert not differ, f"{name} features differ for {a.smiles!r} vs {b.smiles!r}: " + "; ".join(differ)


# -- 1. no crash, right shapes and vocabularies on any valid molecule ------------------------------------------
@PROPERTY_SETTINGS
@given(mols())
def test_any_valid_molecule_featurizes(mol: Chem.Mol) -> None:
    smiles = Chem.MolToSmiles(mol)
    parsed = _quiet_parse(smiles)
    assume(parsed is not None and parsed.GetNumAtoms() > 0)
    data = FEATURIZER(smiles)
    _assert_valid_graph(data, parsed.GetNumAtoms(), parsed.GetNumBonds())
    assert data.smiles == smiles
    # atom features that are easy to check independently
    assert data.x[:, 0].tolist() == [min(a.GetAtomicNum(), 118) for a in parsed.GetAtoms()]
    assert data.x[:, 4].tolist() == [int(a.GetIsAromatic()) for a in parsed.GetAtoms()]


@PROPERTY_SETTINGS
@given(mols())
def test_hydrogens_added_featurizes(mol: Chem.Mol) -> None:
    smiles = Chem.MolToSmiles(mol)
    parsed = _quiet_parse(smiles)
    assume(parsed is not None and parsed.GetNumAtoms() > 0)
    with_h = Chem.AddHs(parsed)
    data = MoleculeFeaturizer(add_hydrogens=True)(smiles)
    _assert_valid_graph(data, with_h.GetNumAtoms(), with_h.GetNumBonds())
    assert int((data.x[:, 5]).sum()) == 0  # every hydrogen is an explicit atom now


@PROPERTY_SETTINGS
@given(st.text(alphabet=SMILES_ALPHABET, min_size=1, max_size=20))
def test_any_text_featurizes_or_raises_invalid_smiles(text: str) -> None:
    """Whatever the text, the featurizer returns a valid graph or raises InvalidSmilesError, nothing else."""
    try:
        data = FEATURIZER(text)
    except InvalidSmilesError:
        return
    n_atoms = data.x.shape[0]
    n_bonds = data.edge_index.shape[1] // 2
    assert n_atoms > 0
    _assert_valid_graph(data, n_atoms, n_bonds)


# -- 2. the stereo shortcut of the SMILES path is exact --------------------------------------------------------
@PROPERTY_SETTINGS
@given(mols(), st.booleans())
def test_smiles_path_equals_mol_path(mol: Chem.Mol, isomeric: bool) -> None:
    smiles = Chem.MolToSmiles(mol, isomericSmiles=isomeric)
    parsed = _quiet_parse(smiles)
    assume(parsed is not None and parsed.GetNumAtoms() > 0)
    _assert_same_graph(FEATURIZER(smiles), FEATURIZER(parsed))


@PROPERTY_SETTINGS
@given(mols())
def test_smiles_path_equals_mol_path_without_stereo_marks(mol: Chem.Mol) -> None:
    """The shortcut is *taken* here (no '@', '/', '\\' in the string): the getters must agree it changes nothing."""
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    parsed = _quiet_parse(smiles)
    assume(parsed is not None and parsed.GetNumAtoms() > 0)
    assert not set("@/\\") & set(smiles)
    assert all(int(a.GetChiralTag()) == 0 for a in parsed.GetAtoms())
    assert all(int(b.GetStereo()) == 0 for b in parsed.GetBonds())
    _assert_same_graph(FEATURIZER(smiles), FEATURIZER(parsed))


@pytest.mark.parametrize("smiles", STEREO_SMILES)
def test_stereo_smiles_path_equals_mol_path(smiles: str) -> None:
    parsed = Chem.MolFromSmiles(smiles)
    assert parsed is not None
    from_string, from_mol = FEATURIZER(smiles), FEATURIZER(parsed)
    _assert_same_graph(from_string, from_mol)
    # the examples really carry stereo information, and the featurizer sees it
    assert int(from_string.x[:, 6].max()) > 0 or int(from_string.edge_attr[:, 3].max()) > 0
    # the canonical isomeric and non-isomeric SMILES agree with their own Mol too
    for variant in (Chem.MolToSmiles(parsed), Chem.MolToSmiles(parsed, isomericSmiles=False)):
        _assert_same_graph(FEATURIZER(variant), FEATURIZER(Chem.MolFromSmiles(variant)))


@pytest.mark.parametrize("smiles", CXSMILES_STEREO)
def test_cxsmiles_stereo_smiles_path_equals_mol_path(smiles: str) -> None:
    """CXSMILES extensions carry stereo with no '@', '/' or '\\' in the string: the shortcut must not apply."""
    parsed = Chem.MolFromSmiles(smiles)
    assert parsed is not None
    _assert_same_graph(FEATURIZER(smiles), FEATURIZER(parsed))


# -- 3. determinism, and featurize_many == per-molecule calls --------------------------------------------------
@PROPERTY_SETTINGS
@given(mols())
def test_deterministic(mol: Chem.Mol) -> None:
    smiles = Chem.MolToSmiles(mol)
    assume(_quiet_parse(smiles) is not None)
    _assert_same_graph(FEATURIZER(smiles), FEATURIZER(smiles))
    _assert_same_graph(FEATURIZER(smiles), MoleculeFeaturizer()(smiles))


def _check_many_equals_single(items: list) -> None:
    out, invalid = FEATURIZER.featurize_many(items)
    singles, expected_invalid = [], []
    for i, item in enumerate(items):
        try:
            singles.append(FEATURIZER(item))
        except InvalidSmilesError:
            expected_invalid.append(i)
    assert sorted(invalid) == expected_invalid
    assert all(isinstance(reason, str) and reason for reason in invalid.values())
    n = len(singles)
    assert out.node_ptr.shape == out.edge_ptr.shape == (n + 1,)
    assert out.node_ptr[0] == 0 and out.edge_ptr[0] == 0
    assert bool((np.diff(out.node_ptr) >= 0).all()) and bool((np.diff(out.edge_ptr) >= 0).all())
    assert out.node_ptr[-1] == out.x.shape[0] and out.edge_ptr[-1] == out.edge_index.shape[1] == out.edge_attr.shape[0]
    for dtype_holder in (out.x, out.edge_index, out.edge_attr, out.node_ptr, out.edge_ptr):
        assert dtype_holder.dtype == np.int64
    for j, single in enumerate(singles):  # valid molecules keep their order
        n0, n1 = out.node_ptr[j], out.node_ptr[j + 1]
        e0, e1 = out.edge_ptr[j], out.edge_ptr[j + 1]
        assert np.array_equal(out.x[n0:n1], single.x.numpy())
        assert np.array_equal(out.edge_index[:, e0:e1], single.edge_index.numpy())
        assert np.array_equal(out.edge_attr[e0:e1], single.edge_attr.numpy())
    if singles:
        assert np.array_equal(out.x, torch.cat([s.x for s in singles]).numpy())
        assert np.array_equal(out.edge_attr, torch.cat([s.edge_attr for s in singles]).numpy())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mols(), min_size=0, max_size=6), st.booleans())
def test_featurize_many_equals_single_calls(molecules: list[Chem.Mol], as_mols: bool) -> None:
    items: list = [Chem.MolToSmiles(m) for m in molecules]
    if as_mols:
        items = [_quiet_parse(s) or s for s in items]
    _check_many_equals_single(items)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(mols().map(Chem.MolToSmiles), st.sampled_from(INVALID_EXAMPLES + NON_STRINGS),
                          st.text(max_size=8)), min_size=0, max_size=8))
def test_featurize_many_reports_invalid_and_keeps_order(items: list) -> None:
    _check_many_equals_single(items)


def test_featurize_many_invalid_positions() -> None:
    items = ["CCO", "", "C1CC", "c1ccccc1", None, "not a smiles", "F/C=C/F", 123]
    out, invalid = FEATURIZER.featurize_many(items)
    assert sorted(invalid) == [1, 2, 4, 5, 7]
    assert out.node_ptr.tolist() == [0, 3, 9, 13]
    _check_many_equals_single(items)


# -- 4. invalid input gives the documented error ---------------------------------------------------------------
def test_invalid_smiles_error_is_value_error() -> None:
    assert issubclass(InvalidSmilesError, ValueError)


@PROPERTY_SETTINGS
@given(st.text())
def test_unparseable_text_raises(text: str) -> None:
    assume(_quiet_parse(text, sanitize=False) is None)
    for featurizer in (FEATURIZER, MoleculeFeaturizer(sanitize="strict"), MoleculeFeaturizer(add_hydrogens=True)):
        with pytest.raises(InvalidSmilesError):
            featurizer(text)
    out, invalid = FEATURIZER.featurize_many(["CCO", text, "O"])
    assert sorted(invalid) == [1]
    assert out.node_ptr.tolist() == [0, 3, 4]


@PROPERTY_SETTINGS
@given(st.text(alphabet=SMILES_ALPHABET, min_size=1, max_size=12))
def test_unparseable_smiles_like_text_raises(text: str) -> None:
    assume(_quiet_parse(text, sanitize=False) is None)
    with pytest.raises(InvalidSmilesError):
        FEATURIZER(text)
    with pytest.raises(InvalidSmilesError):
        MoleculeFeaturizer(sanitize="strict")(text)


@pytest.mark.parametrize("bad", INVALID_EXAMPLES + NON_STRINGS, ids=repr)
def test_invalid_examples_raise(bad) -> None:
    for featurizer in (FEATURIZER, MoleculeFeaturizer(sanitize="strict")):
        with pytest.raises(InvalidSmilesError):
            featurizer(bad)
        out, invalid = featurizer.featurize_many(["C", bad, "N", bad])
        assert sorted(invalid) == [1, 3]
        assert out.x[:, 0].tolist() == [6, 7]


@pytest.mark.parametrize("bad", SURROGATE_EXAMPLES, ids=ascii)
def test_surrogate_text_raises_invalid_smiles(bad: str) -> None:
    """Text RDKit cannot even receive is invalid SMILES like any other: InvalidSmilesError, and
    ``featurize_many`` reports it instead of aborting the whole batch."""
    with pytest.raises(InvalidSmilesError):
        FEATURIZER(bad)
    out, invalid = FEATURIZER.featurize_many(["C", bad, "N"])
    assert sorted(invalid) == [1]
    assert out.x[:, 0].tolist() == [6, 7]


def test_empty_mol_raises() -> None:
    with pytest.raises(InvalidSmilesError):
        FEATURIZER(Chem.Mol())


# -- 5. lenient vs strict sanitization -------------------------------------------------------------------------
VALENCE_ERROR = "NC(=O)NC1N=C(O[AlH3](O)O)NC1=O"


def test_lenient_keeps_valence_errors_strict_rejects() -> None:
    assert _quiet_parse(VALENCE_ERROR) is None and _quiet_parse(VALENCE_ERROR, sanitize=False) is not None
    lenient = MoleculeFeaturizer()
    strict = MoleculeFeaturizer(sanitize="strict")
    data = lenient(VALENCE_ERROR)
    raw = _quiet_parse(VALENCE_ERROR, sanitize=False)
    _assert_valid_graph(data, raw.GetNumAtoms(), raw.GetNumBonds())
    with pytest.raises(InvalidSmilesError, match="SMILES"):
        strict(VALENCE_ERROR)
    out, invalid = strict.featurize_many(["CCO", VALENCE_ERROR])
    assert list(invalid) == [1] and out.node_ptr.tolist() == [0, 3]
    out, invalid = lenient.featurize_many(["CCO", VALENCE_ERROR])
    assert invalid == {} and out.node_ptr.tolist() == [0, 3, 3 + raw.GetNumAtoms()]
    assert lenient.cache_key != strict.cache_key
    assert MoleculeFeaturizer(add_hydrogens=True).cache_key != lenient.cache_key
    with pytest.raises(ValueError):
        MoleculeFeaturizer(sanitize="sometimes")  # type: ignore[arg-type]


@PROPERTY_SETTINGS
@given(mols())
def test_lenient_and_strict_agree_on_sane_molecules(mol: Chem.Mol) -> None:
    smiles = Chem.MolToSmiles(mol)
    assume(_quiet_parse(smiles) is not None)
    _assert_same_graph(MoleculeFeaturizer()(smiles), MoleculeFeaturizer(sanitize="strict")(smiles))

