"""``graphmeta demo``: the main job on the embedded default data (Tox21, no download needed).

For now (the meta-learners arrive next) it loads Tox21, prints its summary and the PAR task split, and
draws the 10-shot evaluation episodes of the test tasks (10 positives + 10 negatives, query = the rest).
"""

from __future__ import annotations

import argparse

from graphmeta.cli.base import Subcommand
from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, collate_episodes, episode_rng
from graphmeta.data.splits import par_split


class DemoCommand(Subcommand):
    name = "demo"
    help = "load the embedded Tox21 data, print its summary, its few-shot split and 10-shot test episodes"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--shots", type=int, default=10, help="positives (and negatives) per support (default 10)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the episode draws (default 0)")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        collection = load_dataset("tox21")
        print(collection.summary())
        split = par_split(collection).carve_validation(2, seed=args.seed)
        names = collection.task_names
        print(f"\nfew-shot split ({split.description}):")
        for part in ("train", "valid", "test"):
            print(f"  {part:<5} {', '.join(names[t] for t in getattr(split, part))}")
        sampler = KShotSampler(args.shots)
        episodes = [sampler.sample(collection, t, episode_rng(args.seed, i)) for i, t in enumerate(split.test)]
        meta_batch = collate_episodes(collection, episodes)
        graphs = meta_batch.support.batch.num_graphs + meta_batch.query.batch.num_graphs
        atoms = meta_batch.support.batch.num_nodes + meta_batch.query.batch.num_nodes
        print(f"\n{args.shots}-shot test episodes (seed {args.seed}), collated into support and query batches of "
              f"{graphs:,} graphs / {atoms:,} atoms in all:")
        print(f"  {'task':<14} {'support +/-':>12} {'query +/-':>12}")
        for ep in episodes:
            s_pos, q_pos = int(ep.support_y.sum()), int(ep.query_y.sum())
            print(f"  {names[ep.task]:<14} {f'{s_pos}/{len(ep.support) - s_pos}':>12} "
                  f"{f'{q_pos}/{len(ep.query) - q_pos}':>12}")
        return 0
