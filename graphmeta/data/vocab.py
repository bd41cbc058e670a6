"""The molecular graph schema: atom and bond feature columns and their vocabulary sizes.

Kept apart from :mod:`graphmeta.data.featurize` (which needs RDKit) so that model code can size its embeddings
without importing a chemistry toolkit.
"""

from __future__ import annotations

__all__ = ["ATOM_FEATURES", "BOND_FEATURES", "ATOM_VOCAB", "BOND_VOCAB"]

#: Names of the atom feature columns, in order, with their vocabulary sizes.
ATOM_FEATURES: dict[str, int] = {
    "atomic_num": 119,  # 0 = dummy atom '*', 1..118 elements
    "degree": 11,  # 0..10 (clipped)
    "formal_charge": 11,  # -5..+5 shifted to 0..10 (clipped)
    "hybridization": 9,  # rdchem.HybridizationType values 0..8
    "is_aromatic": 2,
    "total_num_hs": 9,  # 0..8 (clipped)
    "chirality": 9,  # rdchem.ChiralType values 0..8
    "is_in_ring": 2,
}

#: Names of the bond feature columns, in order, with their vocabulary sizes.
BOND_FEATURES: dict[str, int] = {
    "bond_type": 5,  # single, double, triple, aromatic, other
    "is_conjugated": 2,
    "is_in_ring": 2,
    "stereo": 8,  # rdchem.BondStereo values 0..7
}

#: Vocabulary sizes of the atom / bond columns, in order (what the backbone's categorical encoders embed).
ATOM_VOCAB: tuple[int, ...] = tuple(ATOM_FEATURES.values())
BOND_VOCAB: tuple[int, ...] = tuple(BOND_FEATURES.values())
