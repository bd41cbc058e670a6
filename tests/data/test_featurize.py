"""Featurizer: exact features on hand-checked molecules, shapes, errors, and the dataset path."""

from __future__ import annotations

import pytest
import torch
from rdkit import Chem

from graphmeta.data.featurize import ATOM_FEATURES, BOND_FEATURES, InvalidSmilesError, MoleculeFeaturizer


def test_ethanol_exact_features() -> None:
    data = MoleculeFeaturizer()("CCO")
    # columns: atomic_num, degree, charge+5, hybridization, aromatic, total Hs, chirality, ring
    assert data.x.tolist() == [[6, 1, 5, 4, 0, 3, 0, 0], [6, 2, 5, 4, 0, 2, 0, 0], [8, 1, 5, 4, 0, 1, 0, 0]]
    assert data.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert data.edge_attr.tolist() == [[0, 0, 0, 0]] * 4
    assert data.smiles == "CCO"


def test_aromatic_ring_charge_and_stereo() -> None:
    featurizer = MoleculeFeaturizer()
    benzene = featurizer("c1ccccc1")
    assert benzene.x[:, 4].tolist() == [1] * 6 and benzene.x[:, 7].tolist() == [1] * 6
    assert benzene.edge_attr[:, 0].tolist() == [3] * 12  # aromatic
    assert benzene.edge_attr[:, 1].tolist() == [1] * 12 and benzene.edge_attr[:, 2].tolist() == [1] * 12
    acetate = featurizer("CC(=O)[O-]")
    assert acetate.x[3, 2].item() == 4  # charge -1 shifted by +5
    assert acetate.edge_attr[2, 0].item() == 1  # double bond
    alanine = featurizer("C[C@H](N)C(=O)O")
    assert alanine.x[1, 6].item() == int(Chem.ChiralType.CHI_TETRAHEDRAL_CCW)
    difluoroethene = featurizer("F/C=C/F")
    stereo = difluoroethene.edge_attr[:, 3]
    assert stereo.max().item() in (int(Chem.BondStereo.STEREOE), int(Chem.BondStereo.STEREOTRANS))


def test_mol_input_equals_smiles_input_and_hydrogens() -> None:
    featurizer = MoleculeFeaturizer()
    from_smiles = featurizer("OC(=O)c1ccccc1")
    from_mol = featurizer(Chem.MolFromSmiles("OC(=O)c1ccccc1"))
    assert torch.equal(from_smiles.x, from_mol.x) and torch.equal(from_smiles.edge_attr, from_mol.edge_attr)
    with_h = MoleculeFeaturizer(add_hydrogens=True)("C")
    assert with_h.x.shape[0] == 5 and with_h.edge_index.shape[1] == 8


def test_vocabulary_clipping() -> None:
    # a +7 charge and a degree above 10 land in the last bucket instead of overflowing the embedding
    data = MoleculeFeaturizer()("[S+7]")
    assert data.x[0, 2].item() == ATOM_FEATURES["formal_charge"] - 1
    big = MoleculeFeaturizer()("C" + "(C)" * 11)  # hypervalent carbon: kept by lenient sanitization
    assert big.x[0, 1].item() == ATOM_FEATURES["degree"] - 1
    assert (big.x < torch.tensor(MoleculeFeaturizer.atom_vocab)).all()


@pytest.mark.parametrize("bad", ["", "   ", "C1CC", "not a smiles", "C(C"])
def test_invalid_smiles_raise(bad: str) -> None:
    with pytest.raises(InvalidSmilesError, match="SMILES"):
        MoleculeFeaturizer()(bad)


def test_non_string_raises() -> None:
    with pytest.raises(InvalidSmilesError):
        MoleculeFeaturizer()(None)  # type: ignore[arg-type]


def test_strict_mode_rejects_valence_errors() -> None:
    smiles = "NC(=O)NC1N=C(O[AlH3](O)O)NC1=O"  # a Tox21 molecule that RDKit >= 2024 rejects on valence
    assert MoleculeFeaturizer()(smiles).num_nodes == Chem.MolFromSmiles(smiles, sanitize=False).GetNumAtoms() == 14
    with pytest.raises(InvalidSmilesError, match="AlH3"):
        MoleculeFeaturizer(sanitize="strict")(smiles)
    assert MoleculeFeaturizer().cache_key != MoleculeFeaturizer(sanitize="strict").cache_key
    with pytest.raises(ValueError, match="sanitize"):
        MoleculeFeaturizer(sanitize="loose")  # type: ignore[arg-type]


def test_featurize_many_lists_molecules_only_lenient_sanitization_kept() -> None:
    from graphmeta.data.featurize import graphs_key

    smiles = ["CCO", "C(C)(C)(C)(C)(C)C", "xx", "CC(=O)O[AlH3](O)O", "c1ccccc1"] * 400  # 2,000: split over workers
    for n_jobs in (None, 2):
        lenient, invalid = MoleculeFeaturizer().featurize_many(smiles, n_jobs=n_jobs)
        assert lenient.lenient == [i for i in range(len(smiles)) if i % 5 in (1, 3)] and len(invalid) == 400
        strict, invalid = MoleculeFeaturizer(sanitize="strict").featurize_many(smiles, n_jobs=n_jobs)
        assert strict.lenient == [] and sorted(invalid)[:3] == [1, 2, 3] and "allowed valence" in invalid[1]
    for molecule in ("CCO", "c1ccccc1"):  # a molecule both accept: the same graph in both modes
        a, b = MoleculeFeaturizer()(molecule), MoleculeFeaturizer(sanitize="strict")(molecule)
        assert torch.equal(a.x, b.x) and torch.equal(a.edge_attr, b.edge_attr)
    assert graphs_key(MoleculeFeaturizer().cache_key) == graphs_key(MoleculeFeaturizer(sanitize="strict").cache_key)
    assert MoleculeFeaturizer(fingerprint_bits=8).with_sanitize("strict").cache_key == \
        MoleculeFeaturizer(sanitize="strict", fingerprint_bits=8).cache_key


def test_featurize_many_reports_invalid_positions_and_keeps_order() -> None:
    featurizer = MoleculeFeaturizer()
    smiles = ["CCO", "C1CC", "c1ccccc1", "", "CN"]
    out, invalid = featurizer.featurize_many(smiles)
    assert sorted(invalid) == [1, 3]
    assert out.node_ptr.tolist() == [0, 3, 9, 11]
    for row, s in enumerate(["CCO", "c1ccccc1", "CN"]):
        ref = featurizer(s)
        a, b = out.node_ptr[row], out.node_ptr[row + 1]
        e0, e1 = out.edge_ptr[row], out.edge_ptr[row + 1]
        assert (out.x[a:b] == ref.x.numpy()).all()
        assert (out.edge_index[:, e0:e1] == ref.edge_index.numpy()).all()
        assert (out.edge_attr[e0:e1] == ref.edge_attr.numpy()).all()
    assert out.x.shape[1] == len(ATOM_FEATURES) and out.edge_attr.shape[1] == len(BOND_FEATURES)


def test_parallel_featurization_equals_serial() -> None:
    import numpy as np

    from graphmeta.data.api import load_dataset
    from graphmeta.data.featurize import PARALLEL_MIN

    smiles = list(load_dataset("tox21", progress=False).smiles[:PARALLEL_MIN + 101])
    smiles[3], smiles[PARALLEL_MIN - 7], smiles[-1] = "not a molecule", "C1CC", ""
    featurizer = MoleculeFeaturizer()
    serial, bad = featurizer.featurize_many(smiles)
    parallel, bad_parallel = featurizer.featurize_many(smiles, n_jobs=2)
    assert bad_parallel == bad and sorted(bad) == [3, PARALLEL_MIN - 7, len(smiles) - 1]
    for field in ("x", "edge_index", "edge_attr", "node_ptr", "edge_ptr"):
        np.testing.assert_array_equal(getattr(parallel, field), getattr(serial, field))
