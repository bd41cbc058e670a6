"""RDKit 2D descriptors as a graph-level featurizer output: values, NaN accounting, every featurizer path, keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import Descriptors

import graphmeta.data.descriptors as descriptors_module
import graphmeta.data.featurize as featurize_module
from graphmeta.data.descriptors import DESCRIPTOR_NAMES, DESCRIPTOR_SET_VERSION, compute_descriptors
from graphmeta.data.featurize import MoleculeFeaturizer, atoms_and_bonds_key, featurizer_version
from graphmeta.data.graphs import GRAPH_LEVEL_FIELDS, GraphStore

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CCNCC1", "O=C(O)c1ccccc1", "C[C@H](N)C(=O)O",
          "Clc1ccc(Cl)c(Cl)c1", "O=[N+]([O-])c1ccccc1", "C1CC2CCC1C2", "CC(C)(C)OC(=O)N1CCC(CC1)C(=O)O"]
HYPERVALENT = "NC(=O)NC1N=C(O[AlH3](O)O)NC1=O"  # a Tox21 molecule kept by lenient sanitization only
D = len(DESCRIPTOR_NAMES)


def _direct(mol: Chem.Mol) -> np.ndarray:
    """Each descriptor by its own ``rdkit.Chem.Descriptors`` function."""
    return np.array([getattr(Descriptors, name)(mol) for name in DESCRIPTOR_NAMES], dtype=np.float32)


def test_the_descriptor_set_is_fixed_cheap_and_known_to_rdkit() -> None:
    known = {name for name, _ in Descriptors._descList}
    assert set(DESCRIPTOR_NAMES) <= known and len(set(DESCRIPTOR_NAMES)) == D
    assert 30 <= D <= 60
    assert not {"Ipc", "qed", "BertzCT", "BCUT2D_MWHI", "MaxEStateIndex"} & set(DESCRIPTOR_NAMES)
    assert {"MolWt", "MolLogP", "TPSA", "NumHDonors", "NumHAcceptors", "NumRotatableBonds"} <= set(DESCRIPTOR_NAMES)
    assert DESCRIPTOR_SET_VERSION and "-" not in DESCRIPTOR_SET_VERSION
    # another list needs another DESCRIPTOR_SET_VERSION (cached graphs and trained models must not mix them), and
    # the count in the README and the --descriptors help
    assert (DESCRIPTOR_SET_VERSION, D) == ("1", 54)


@pytest.mark.parametrize("smiles", SMILES[:6])
def test_values_equal_direct_rdkit_calls(smiles: str) -> None:
    values = compute_descriptors(Chem.MolFromSmiles(smiles))
    assert values.dtype == np.float32 and values.shape == (D,)
    np.testing.assert_array_equal(values, _direct(Chem.MolFromSmiles(smiles)))
    # the grouped calls (Crippen, PEOE_VSA) give what the per-descriptor functions give
    assert values[DESCRIPTOR_NAMES.index("MolLogP")] == np.float32(Descriptors.MolLogP(Chem.MolFromSmiles(smiles)))


def test_failures_and_non_finite_values_become_nan_and_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = list(descriptors_module._BLOCKS)

    def broken(mol: Chem.Mol) -> tuple[float]:
        if mol.GetNumAtoms() == 3:  # only ethanol fails
            raise RuntimeError("RDKit failure")
        return (1.0,)

    blocks[0] = (1, broken)
    blocks[1] = (1, lambda mol: (float("inf"),) if mol.GetNumAtoms() == 7 else (2.0,))  # phenol: infinite
    monkeypatch.setattr(descriptors_module, "_BLOCKS", tuple(blocks))
    values = compute_descriptors(Chem.MolFromSmiles("CCO"))
    assert np.isnan(values[0]) and np.isfinite(values[1:]).all()
    feats, invalid = MoleculeFeaturizer(descriptors=True).featurize_many(["CCO", "c1ccccc1O", "not a smiles", "CN"])
    assert list(invalid) == [2] and feats.descriptors.shape == (3, D)
    assert np.isnan(feats.descriptors[0, 0]) and np.isnan(feats.descriptors[1, 1])
    assert feats.descriptor_nonfinite == 2 and np.isfinite(feats.descriptors[2]).all()
    # values beyond float32 are non-finite too
    assert np.isnan(descriptors_module.as_descriptor_array([1e300] + [0.0] * (D - 1))[0, 0])


def test_featurize_many_equals_per_molecule_calls_and_fills_the_store(tmp_path: Path) -> None:
    featurizer = MoleculeFeaturizer(fingerprint_bits=32, descriptors=True)
    feats, invalid = featurizer.featurize_many([SMILES[0], "C1CC", *SMILES[1:]])
    assert list(invalid) == [1] and feats.descriptors.dtype == np.float32 and feats.descriptor_nonfinite == 0
    singles = [featurizer(s) for s in SMILES]
    expected = np.concatenate([g.descriptors.numpy() for g in singles])
    np.testing.assert_array_equal(feats.descriptors, expected)
    np.testing.assert_array_equal(expected, np.stack([_direct(Chem.MolFromSmiles(s)) for s in SMILES]))
    assert all(g.descriptors.shape == (1, D) and g.descriptors.dtype == torch.float32 for g in singles)
    assert "descriptors" in GRAPH_LEVEL_FIELDS
    store = GraphStore.from_featurized(feats)
    assert torch.equal(store.gather([3, 0, 3]).descriptors, torch.from_numpy(expected[[3, 0, 3]]))
    assert torch.equal(store[4].descriptors, torch.from_numpy(expected[4:5]))
    assert torch.equal(GraphStore.from_data_list(singles).graph_fields["descriptors"], torch.from_numpy(expected))
    assert torch.equal(store.gather([1]).fingerprint, torch.from_numpy(feats.fingerprint[[1]]))  # both fields
    loaded = GraphStore.load(store.save(tmp_path / "store"))
    assert torch.equal(loaded.graph_fields["descriptors"], store.graph_fields["descriptors"])
    plain = MoleculeFeaturizer().featurize_many(SMILES)[0]
    assert plain.descriptors is None and plain.descriptor_nonfinite == 0
    assert "descriptors" not in GraphStore.from_featurized(plain).graph_fields


def test_parallel_featurization_equals_serial_and_sums_the_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(featurize_module, "PARALLEL_MIN", 8)  # split even a short list over the workers
    blocks = list(descriptors_module._BLOCKS)
    blocks[0] = (1, lambda mol: (float("nan"),) if mol.GetNumAtoms() == 3 else (1.0,))  # ethanol: NaN
    monkeypatch.setattr(descriptors_module, "_BLOCKS", tuple(blocks))
    smiles = SMILES * 3
    featurizer = MoleculeFeaturizer(descriptors=True)
    serial, bad = featurizer.featurize_many(smiles)
    parallel, bad_parallel = featurizer.featurize_many(smiles, n_jobs=2)
    assert bad == bad_parallel == {}
    np.testing.assert_array_equal(parallel.descriptors, serial.descriptors)
    assert parallel.descriptor_nonfinite == serial.descriptor_nonfinite == 3


def test_descriptors_are_computed_on_the_graphs_molecule() -> None:
    with_h = MoleculeFeaturizer(add_hydrogens=True, descriptors=True)("CCO")
    np.testing.assert_array_equal(with_h.descriptors[0].numpy(), _direct(Chem.AddHs(Chem.MolFromSmiles("CCO"))))
    lenient = MoleculeFeaturizer(descriptors=True)(HYPERVALENT)  # parsed without the valence check: still computed
    assert lenient.descriptors.shape == (1, D) and torch.isfinite(lenient.descriptors).all()
    mol = Chem.MolFromSmiles(SMILES[2])
    assert torch.equal(MoleculeFeaturizer(descriptors=True)(mol).descriptors,
                       MoleculeFeaturizer(descriptors=True)(SMILES[2]).descriptors)


def test_cache_keys_round_trip_for_every_combination() -> None:
    keys = set()
    for add_hydrogens in (False, True):
        for sanitize in ("lenient", "strict"):
            for bits in (0, 64):
                for descriptors in (False, True):
                    featurizer = MoleculeFeaturizer(add_hydrogens, sanitize, bits,  # type: ignore[arg-type]
                                                    descriptors)
                    key = featurizer.cache_key
                    back = MoleculeFeaturizer.from_cache_key(key)
                    assert (back.add_hydrogens, back.sanitize, back.fingerprint_bits, back.descriptors) == (
                        add_hydrogens, sanitize, bits, descriptors)
                    assert back.cache_key == key and featurizer_version(key) == MoleculeFeaturizer.version
                    plain = MoleculeFeaturizer(add_hydrogens, sanitize)  # type: ignore[arg-type]
                    assert atoms_and_bonds_key(key) == plain.cache_key
                    assert ("descriptors=True" in repr(featurizer)) == descriptors
                    keys.add(key)
    assert len(keys) == 16
    key = MoleculeFeaturizer(fingerprint_bits=64, descriptors=True).cache_key
    assert key.endswith(f"-ecfp4x64-rdkit2dv{DESCRIPTOR_SET_VERSION}")
    with pytest.raises(ValueError, match="descriptor set version"):  # another descriptor set: not this one's graphs
        MoleculeFeaturizer.from_cache_key(key.replace(f"rdkit2dv{DESCRIPTOR_SET_VERSION}", "rdkit2dv999"))
    with pytest.raises(ValueError, match="descriptors must be True or False"):
        MoleculeFeaturizer(descriptors=1)  # type: ignore[arg-type]


def test_loaders_report_molecules_with_a_non_finite_descriptor(tmp_path, monkeypatch) -> None:
    import graphmeta.data.descriptors as descriptors
    from graphmeta.data.loaders.csv import read_molecule_csv

    width, first = descriptors._BLOCKS[0]

    def fails_on_chlorine(mol):
        if any(atom.GetSymbol() == "Cl" for atom in mol.GetAtoms()):
            raise ValueError("descriptor failed")
        return first(mol)

    monkeypatch.setattr(descriptors, "_BLOCKS", ((width, fails_on_chlorine), *descriptors._BLOCKS[1:]))
    path = tmp_path / "m.csv"
    path.write_text("smiles,y\nCCO,1\nCCCl,0\nClCCl,1\nCCN,0\n")
    with pytest.warns(RuntimeWarning, match=r"m\.csv: 2 of 4 molecules have a non-finite RDKit descriptor"):
        collection = read_molecule_csv(path, featurizer=MoleculeFeaturizer(descriptors=True), progress=False)
    values = collection.graphs.graph_fields["descriptors"]
    assert collection.n_graphs == 4 and torch.isnan(values[1:3, :width]).all() and not torch.isnan(values[[0, 3]]).any()


def test_real_dataset_gets_one_finite_descriptor_row_per_molecule() -> None:
    """Tox21 (embedded; metal complexes and salts included): 7,831 molecules, 54 descriptors each, none
    non-finite, and the descriptors of a molecule equal RDKit's for its SMILES."""
    import warnings

    from graphmeta.data.api import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a non-finite descriptor would warn
        tox21 = load_dataset("tox21", featurizer=MoleculeFeaturizer(descriptors=True), progress=False, cache=False)
    values = tox21.graphs.graph_fields["descriptors"]
    assert values.shape == (7831, len(DESCRIPTOR_NAMES)) and bool(torch.isfinite(values).all())
    mol = Chem.MolFromSmiles(tox21.smiles[100])
    assert values[100, DESCRIPTOR_NAMES.index("TPSA")].item() == pytest.approx(Descriptors.TPSA(mol), rel=1e-5)
