"""Fine-tune baseline: multitask training reduces its loss; per-task heads are independent of batching."""

from __future__ import annotations

import pytest
import torch

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, collate_episodes, episode_rng, sample_meta_batch
from graphmeta.meta import FineTune
from graphmeta.nn import FewShotModel, GraphEncoder


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def test_multitask_training_lowers_the_loss(tox21) -> None:
    torch.manual_seed(0)
    learner = FineTune(FewShotModel(GraphEncoder(hidden_channels=16, num_layers=2)), n_tasks=tox21.n_tasks)
    optimizer = torch.optim.Adam(learner.parameters(), lr=1e-2)
    batch = collate_episodes(tox21, sample_meta_batch(tox21, KShotSampler(4, n_query=8), range(9), 4, 0, 0))
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        losses.append(float(learner.meta_step(batch).loss))
        optimizer.step()
    assert losses[-1] < losses[0]


def test_heads_fitted_together_equal_heads_fitted_alone(tox21) -> None:
    torch.manual_seed(0)
    learner = FineTune(FewShotModel(GraphEncoder(hidden_channels=16, num_layers=2)).double(), n_tasks=12,
                       head_steps=20).double()
    episodes = [KShotSampler(k, n_query=6).sample(tox21, t, episode_rng(2, t)) for t, k in ((9, 2), (10, 3))]
    together = learner.evaluate(collate_episodes(tox21, episodes))
    alone = torch.cat([learner.evaluate(collate_episodes(tox21, [e])) for e in episodes])
    assert torch.allclose(together, alone, atol=1e-10)
    assert together.shape == (12, 2)
    with pytest.raises(ValueError, match="n_tasks"):
        FineTune(FewShotModel(GraphEncoder(hidden_channels=8, num_layers=1)), n_tasks=0)
