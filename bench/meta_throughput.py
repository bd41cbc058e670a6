"""Meta-training throughput: task-batched second-order MAML against per-task loops, in one process.

Same model (``FewShotModel(GraphEncoder("gin", 128, 5, norm="task"))``, identical initial weights for every
path), same pre-collated Tox21 episodes (tasks 0-8, ``KShotSampler``, seeded with ``episode_rng``), one full
meta-step per call (5 inner steps, second order, query loss, ``backward()`` into ``.grad``; gradients are
zeroed before each call). Each path is warmed up once, then the paths are timed *interleaved* (one call of
each per round, ``--repeats`` rounds) and the best time of each is kept, so a busy spell of this shared
machine hits all paths alike. Paths:

- ``batched``: ``MAML.meta_step`` on one :class:`~graphmeta.data.episodes.MetaBatch` of all tasks (collated
  before timing).
- ``sequential``: :func:`graphmeta.meta.reference.sequential_meta_step`, the lean per-task loop
  (``torch.func.functional_call`` over the same module, plain tensors) on single-task meta-batches collated
  before timing.
- ``pyg_learn2learn_style``: what a user of PyG modules and learn2learn-style MAML runs: a plain ``nn.Module``
  of ``torch_geometric.nn.GINEConv`` layers (MLP 128-256-128), ``BatchNorm1d`` in training mode on the
  support (the query normalized with the support's batch statistics, as graphmeta's ``norm="task"`` does),
  ``global_mean_pool`` and a ``Linear`` head, with OGB-style atom/bond encoders (one ``nn.Embedding`` per
  categorical column, summed). Its weights are copied from the graphmeta model, so it computes the same
  function (checked in float64). Tasks run one at a time: the module is cloned as ``learn2learn.clone_module``
  does (parameters replaced by graph-connected copies), adapted by replacing each parameter with ``p - lr * g``
  (``learn2learn``'s ``update_module``), and each task's support and query batches are built with
  ``Batch.from_data_list`` *inside* the timed step, as such training loops do: that collation is part of this
  path's time (``collate_seconds`` reports its share). learn2learn itself is not used (see ``notes``).
- ``batched_bf16``: ``batched`` under ``torch.autocast(device, dtype=torch.bfloat16)``; meta-weights and
  their gradients stay float32 (opt-in mixed precision). If autocast fails, the error is recorded.

Correctness guard: the batched and sequential meta-losses of the timed float32 paths are compared, and, since
second-order MAML with 5 inner steps can amplify float32 rounding well beyond 1e-4 in some regimes, the same
comparison is made on float64 copies of the model (batched vs sequential meta-loss and meta-gradient,
PyG-style meta-loss; 1e-6 relative): that shows the paths compute the same thing. ``losses_agree`` requires
the float64 agreement and a float32 difference within ``max(1e-4, 2 x the float32-vs-float64 deviation
measured in this regime)``.

Peak memory: CPU tensors are not visible to ``tracemalloc``, and an in-process high-water mark would mix
the paths (and the allocator keeps freed memory), so each (regime, path) is measured in a *fresh subprocess*
that builds the same setup, then reads ``VmRSS``, resets the kernel's resident high-water mark
(``echo 5 > /proc/self/clear_refs``, Linux >= 4.0) and runs the warm-up plus one timed meta-step (two probes
run at a time); ``peak_mem_mb`` is ``VmHWM - VmRSS`` in MiB: the extra resident memory a meta-step needs
beyond the model and data. Without ``clear_refs`` it falls back to ``ru_maxrss`` minus the pre-step ``VmRSS``
(an upper bound). On CUDA it is ``torch.cuda.max_memory_allocated`` minus the memory allocated before the step.

Allocator: like :class:`graphmeta.train.MetaTrainer`, the bench first calls
:func:`graphmeta.runtime.retain_freed_memory` (glibc keeps freed memory instead of faulting fresh pages in
for every large temporary), for all paths alike; ``--default-allocator`` leaves glibc's defaults (JSON field
``retain_freed_memory`` says which).

Usage: ``python bench/meta_throughput.py [--regimes a b] [--repeats 5] [--device cpu|cuda] [--threads N]
[--out PATH] [--quick] [--default-allocator]``
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINEConv, global_mean_pool

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_record  # noqa: E402

from graphmeta.data.api import load_dataset  # noqa: E402
from graphmeta.data.episodes import Episode, KShotSampler, MetaBatch, collate_episodes, episode_rng  # noqa: E402
from graphmeta.data.featurize import MoleculeFeaturizer  # noqa: E402
from graphmeta.meta import MAML  # noqa: E402
from graphmeta.meta.reference import sequential_meta_step  # noqa: E402
from graphmeta.nn import FewShotModel, GraphEncoder  # noqa: E402
from graphmeta.runtime import retain_freed_memory  # noqa: E402

PATHS = ("batched", "sequential", "pyg_learn2learn_style", "batched_bf16")
TRAIN_TASKS = tuple(range(9))  # Tox21 tasks 0-8 (the training tasks of the few-shot split)
SEED = 0


@dataclass(frozen=True)
class Regime:
    name: str
    n_tasks: int
    k: int  # positives = negatives in the support (support size 2k)
    n_query: int
    target: float  # batched/sequential tasks-per-second ratio required on CPU


@dataclass(frozen=True)
class Config:
    hidden: int = 128
    layers: int = 5
    inner_steps: int = 5
    inner_lr: float = 0.1


FULL = (Config(), {"a": Regime("compute-bound", 16, 8, 32, 1.0), "b": Regime("overhead-bound 1-shot", 64, 1, 16, 2.0)})
QUICK = (Config(hidden=16, layers=2, inner_steps=2),
         {"a": Regime("compute-bound (quick)", 4, 2, 8, 1.0),
          "b": Regime("overhead-bound 1-shot (quick)", 4, 1, 4, 2.0)})


# -- the PyG + learn2learn-style path ---------------------------------------------------------------------------
class ColumnEncoder(nn.Module):
    """OGB ``AtomEncoder``/``BondEncoder`` style: one ``nn.Embedding`` per categorical column, summed."""

    def __init__(self, vocab_sizes: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList([nn.Embedding(v, channels) for v in vocab_sizes])

    def forward(self, x: Tensor) -> Tensor:
        out = 0
        for i, emb in enumerate(self.embeddings):
            out = out + emb(x[:, i])
        return out


class PygGIN(nn.Module):
    """GINE encoder + linear head from stock PyG/PyTorch modules, the same sizes as graphmeta's model."""

    def __init__(self, hidden: int, layers: int, n_way: int = 2) -> None:
        super().__init__()
        atom_vocab, bond_vocab = MoleculeFeaturizer.atom_vocab, MoleculeFeaturizer.bond_vocab
        self.atom_encoder = ColumnEncoder(atom_vocab, hidden)
        self.bond_encoders = nn.ModuleList([ColumnEncoder(bond_vocab, hidden) for _ in range(layers)])
        self.convs = nn.ModuleList([GINEConv(nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.ReLU(),
                                                           nn.Linear(2 * hidden, hidden))) for _ in range(layers)])
        self.norms = nn.ModuleList([nn.BatchNorm1d(hidden) for _ in range(layers)])
        self.head = nn.Linear(hidden, n_way)

    def _nodes(self, data: Batch, moments: list[tuple[Tensor, Tensor]] | None = None,
               record: list[tuple[Tensor, Tensor]] | None = None) -> Tensor:
        """Node embeddings; BatchNorm with the batch's own statistics (recorded into ``record``) or ``moments``."""
        h = self.atom_encoder(data.x)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            h = conv(h, data.edge_index, self.bond_encoders[i](data.edge_attr))
            if moments is None:
                if record is not None:
                    record.append((h.mean(0), h.var(0, unbiased=False)))
                h = norm(h)
            else:
                mean, var = moments[i]  # (F.batch_norm takes no gradient into given statistics)
                h = (h - mean) * torch.rsqrt(var + norm.eps) * norm.weight + norm.bias
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        return h

    def forward(self, data: Batch, support: Batch | None = None) -> Tensor:
        """Logits of ``data``; given the task's ``support``, ``data`` is normalized with the support's batch
        statistics (as graphmeta's ``norm="task"`` does for a query), else with its own."""
        moments: list[tuple[Tensor, Tensor]] | None = None
        if support is not None:
            moments = []
            self._nodes(support, record=moments)
        return self.head(global_mean_pool(self._nodes(data, moments), data.batch))

    @torch.no_grad()
    def load_from(self, model: FewShotModel) -> "PygGIN":
        """Copies graphmeta's weights (split the offset embedding tables by column)."""
        enc = model.encoder

        def split(table: Tensor, target: ColumnEncoder) -> None:
            for emb, part in zip(target.embeddings, torch.split(table, [e.num_embeddings for e in target.embeddings])):
                emb.weight.copy_(part)

        split(enc.atom_encoder.weight, self.atom_encoder)
        for src, dst in zip(enc.bond_encoders, self.bond_encoders):
            split(src.weight, dst)
        for layer, conv in zip(enc.layers, self.convs):
            conv.nn[0].load_state_dict(layer.lin1.state_dict())
            conv.nn[2].load_state_dict(layer.lin2.state_dict())
            conv.eps.copy_(layer.eps)
        for src, dst in zip(enc.norms, self.norms):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
        self.head.load_state_dict(model.head.state_dict())
        return self


def clone_module(module: nn.Module, memo: dict[int, Tensor] | None = None) -> nn.Module:
    """``learn2learn.utils.clone_module``: a shallow copy of the module tree whose parameters are replaced by
    graph-connected clones (buffers, e.g. BatchNorm running statistics, are shared with the original)."""
    memo = {} if memo is None else memo
    clone = module.__new__(type(module))
    clone.__dict__ = module.__dict__.copy()
    clone._parameters = module._parameters.copy()
    clone._buffers = module._buffers.copy()
    clone._modules = module._modules.copy()
    for key, param in module._parameters.items():
        if param is not None:
            if id(param) not in memo:
                memo[id(param)] = param.clone()
            clone._parameters[key] = memo[id(param)]
    for key, sub in module._modules.items():
        if sub is not None:
            clone._modules[key] = clone_module(sub, memo)
    return clone


def update_module(module: nn.Module, new: dict[int, Tensor]) -> None:
    """``learn2learn.utils.update_module``: replace every parameter ``p`` by ``new[id(p)]`` in place."""
    for sub in module.modules():
        for key, param in sub._parameters.items():
            if param is not None and id(param) in new:
                sub._parameters[key] = new[id(param)]


def l2l_adapt(learner: nn.Module, loss: Tensor, lr: float, second_order: bool = True) -> None:
    """``learn2learn.algorithms.MAML.adapt``: one SGD step on the clone's own parameters."""
    params = list(learner.parameters())
    grads = torch.autograd.grad(loss, params, retain_graph=second_order, create_graph=second_order)
    update_module(learner, {id(p): p - lr * g for p, g in zip(params, grads)})


class PygStep:
    """One learn2learn-style meta-step: per task, collate, clone, adapt, query loss, backward."""

    def __init__(self, model: PygGIN, graphs: dict[int, Data], episodes: list[Episode], cfg: Config,
                 device: torch.device) -> None:
        self.model, self.graphs, self.episodes, self.cfg, self.device = model, graphs, episodes, cfg, device
        self.collate_seconds = 0.0

    def _collate(self, ids: Tensor, y: Tensor) -> tuple[Batch, Tensor]:
        start = time.perf_counter()
        batch = Batch.from_data_list([self.graphs[i] for i in ids.tolist()]).to(self.device)
        y = y.long().to(self.device)
        self.collate_seconds += time.perf_counter() - start
        return batch, y

    def __call__(self) -> Tensor:
        self.collate_seconds = 0.0
        n = len(self.episodes)
        total = 0.0
        for ep in self.episodes:
            support, y_s = self._collate(ep.support, ep.support_y)
            query, y_q = self._collate(ep.query, ep.query_y)
            learner = clone_module(self.model)
            for _ in range(self.cfg.inner_steps):
                l2l_adapt(learner, F.cross_entropy(learner(support), y_s), self.cfg.inner_lr)
            loss = F.cross_entropy(learner(query, support), y_q)
            (loss / n).backward()
            total = total + loss.detach() / n
        return total  # type: ignore[return-value]


# -- setup ----------------------------------------------------------------------------------------------------
@dataclass
class Setup:
    episodes: list[Episode]
    meta_batch: MetaBatch
    singles: list[MetaBatch]
    graphs: dict[int, Data]
    model: FewShotModel
    stats: dict[str, Any]


def build(regime: Regime, cfg: Config, device: torch.device) -> Setup:
    """Episodes, pre-collated batches and the initial model of a regime (deterministic)."""
    tox21 = load_dataset("tox21", progress=False)
    sampler = KShotSampler(regime.k, n_query=regime.n_query)
    episodes = [sampler.sample(tox21, TRAIN_TASKS[i % len(TRAIN_TASKS)], episode_rng(SEED, i))
                for i in range(regime.n_tasks)]
    meta_batch = collate_episodes(tox21, episodes).to(device)
    singles = [collate_episodes(tox21, [ep]).to(device) for ep in episodes]
    ids = sorted({int(i) for ep in episodes for i in torch.cat([ep.support, ep.query]).tolist()})
    graphs = {i: tox21.graphs[i].clone() for i in ids}  # a user's list of Data objects (on the CPU)
    torch.manual_seed(SEED)
    model = FewShotModel(GraphEncoder(conv="gin", hidden_channels=cfg.hidden, num_layers=cfg.layers, norm="task"))
    stats = {"support_graphs": int(meta_batch.support.graph_task.numel()),
             "query_graphs": int(meta_batch.query.graph_task.numel()),
             "support_nodes": int(meta_batch.support.batch.num_nodes),
             "query_nodes": int(meta_batch.query.batch.num_nodes),
             "support_edges": int(meta_batch.support.batch.edge_index.shape[1]),
             "query_edges": int(meta_batch.query.batch.edge_index.shape[1]),
             "n_parameters": sum(p.numel() for p in model.parameters())}
    return Setup(episodes, meta_batch, singles, graphs, model, stats)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_paths(setup: Setup, cfg: Config, device: torch.device) -> dict[str, tuple[nn.Module, Callable[[], Tensor]]]:
    """Each path's own copy of the initial weights and its meta-step (which zeroes gradients first)."""
    def learner() -> MAML:
        return MAML(copy.deepcopy(setup.model), inner_lr=cfg.inner_lr, inner_steps=cfg.inner_steps).to(device)

    batched, sequential, bf16 = learner(), learner(), learner()
    pyg = PygGIN(cfg.hidden, cfg.layers).load_from(setup.model).to(device).train()
    pyg_step = PygStep(pyg, setup.graphs, setup.episodes, cfg, device)

    def wrap(module: nn.Module, fn: Callable[[], Tensor]) -> Callable[[], Tensor]:
        def step() -> Tensor:
            module.zero_grad(set_to_none=True)
            loss = fn()
            _sync(device)
            return loss
        return step

    def bf16_step() -> Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return bf16.meta_step(setup.meta_batch).loss

    return {
        "batched": (batched, wrap(batched, lambda: batched.meta_step(setup.meta_batch).loss)),
        "sequential": (sequential, wrap(sequential, lambda: sequential_meta_step(sequential, setup.singles))),
        "pyg_learn2learn_style": (pyg_step, wrap(pyg, pyg_step)),
        "batched_bf16": (bf16, wrap(bf16, bf16_step)),
    }


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def float64_check(setup: Setup, cfg: Config, device: torch.device) -> dict[str, float]:
    """Batched, sequential and PyG-style meta-losses and gradients on float64 copies of the initial model."""
    model = copy.deepcopy(setup.model).double()
    batched = MAML(copy.deepcopy(model), inner_lr=cfg.inner_lr, inner_steps=cfg.inner_steps).to(device)
    sequential = copy.deepcopy(batched)
    loss_b = float(batched.meta_step(setup.meta_batch).loss)
    loss_s = float(sequential_meta_step(sequential, setup.singles))
    pyg = PygGIN(cfg.hidden, cfg.layers).double().load_from(model).to(device).train()
    loss_p = float(PygStep(pyg, setup.graphs, setup.episodes, cfg, device)())
    g_b = torch.cat([p.grad.flatten() for p in batched.parameters()])
    g_s = torch.cat([p.grad.flatten() for p in sequential.parameters()])
    return {"batched_loss": loss_b, "sequential_loss": loss_s, "pyg_loss": loss_p,
            "loss_rel_diff": _rel(loss_b, loss_s), "pyg_loss_rel_diff": _rel(loss_p, loss_s),
            "grad_rel_diff": float((g_b - g_s).norm() / g_s.norm())}


# -- memory ---------------------------------------------------------------------------------------------------
def _proc_status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def probe_memory(regime: Regime, cfg: Config, device: torch.device, path: str) -> dict[str, Any]:
    """Peak extra memory of the warm-up plus one meta-step of ``path`` (run in a fresh process)."""
    import gc
    import resource

    setup = build(regime, cfg, device)
    _, step = make_paths(setup, cfg, device)[path]
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step(), step()
        return {"peak_mem_mb": (torch.cuda.max_memory_allocated(device) - before) / 2**20,
                "method": "torch.cuda.max_memory_allocated delta"}
    rss = _proc_status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        method = "VmHWM after clear_refs - VmRSS (fresh process)"
    except OSError:
        method = "ru_maxrss - VmRSS (fresh process; upper bound)"
    step(), step()
    if method.startswith("VmHWM"):
        peak = _proc_status_kb("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if rss is None or peak is None:
        return {"peak_mem_mb": None, "method": "unavailable (no /proc/self/status)"}
    return {"peak_mem_mb": (peak - rss) / 1024, "method": method}


def run_probe(args: argparse.Namespace, regime_key: str, path: str) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", regime_key, path, "--device", args.device]
    cmd += (["--quick"] if args.quick else []) + (["--threads", str(args.threads)] if args.threads else [])
    cmd += ["--default-allocator"] if args.default_allocator else []
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"peak_mem_mb": None, "method": "probe failed", "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- one regime -----------------------------------------------------------------------------------------------
def run_regime(key: str, regime: Regime, cfg: Config, args: argparse.Namespace, device: torch.device) -> dict:
    setup = build(regime, cfg, device)
    print(f"\nregime {key}: {regime.name}, {regime.n_tasks} tasks x ({2 * regime.k} support + {regime.n_query} query), "
          f"GIN {cfg.layers}x{cfg.hidden}, {cfg.inner_steps} inner steps, second-order MAML, "
          f"{setup.stats['support_nodes']}+{setup.stats['query_nodes']} nodes", flush=True)
    f64 = float64_check(setup, cfg, device)
    paths = make_paths(setup, cfg, device)
    rows: dict[str, dict[str, Any]] = {}
    live: dict[str, Callable[[], Tensor]] = {}
    for name, (_, step) in paths.items():  # warm-up, and the losses of the timed computations
        try:
            rows[name] = {"loss": float(step())}
            live[name] = step
        except Exception as exc:  # autocast may break on some op: report it, keep the other paths
            if name != "batched_bf16":
                raise
            rows[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"  {name} failed: {rows[name]['error']}", flush=True)
    times: dict[str, list[float]] = {name: [] for name in live}
    collate: list[float] = []
    for _ in range(args.repeats):  # interleaved rounds, best of each path kept
        for name, step in live.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
            if name == "pyg_learn2learn_style":
                collate.append(paths[name][0].collate_seconds)  # type: ignore[union-attr]
    for name, ts in times.items():
        best = min(ts)
        rows[name].update({"seconds": best, "tasks_per_s": regime.n_tasks / best, "seconds_all": ts,
                           "seconds_median": statistics.median(ts)})
    if collate:
        rows["pyg_learn2learn_style"]["collate_seconds"] = collate[times["pyg_learn2learn_style"].index(
            rows["pyg_learn2learn_style"]["seconds"])]
    if not args.no_memory:  # two probes at a time (separate processes: their peaks do not mix)
        with ThreadPoolExecutor(max_workers=2) as pool:
            probes = dict(zip(PATHS, pool.map(lambda name: run_probe(args, key, name), PATHS)))
        for name in PATHS:
            rows[name].update(probes[name])

    def ratio(a: str, b: str, stat: str = "seconds") -> float | None:
        if stat not in rows[a] or stat not in rows[b]:
            return None
        return rows[b][stat] / rows[a][stat]  # tasks/s of a over tasks/s of b

    pairs = {"batched_over_sequential": ("batched", "sequential"),
             "batched_over_pyg_learn2learn_style": ("batched", "pyg_learn2learn_style"),
             "bf16_over_batched": ("batched_bf16", "batched"),
             "bf16_over_sequential": ("batched_bf16", "sequential")}
    ratios = {k: ratio(a, b) for k, (a, b) in pairs.items()}
    ratios_median = {k: ratio(a, b, "seconds_median") for k, (a, b) in pairs.items()}
    fp32_diff = _rel(rows["batched"]["loss"], rows["sequential"]["loss"])
    fp32_dev = max(_rel(rows["batched"]["loss"], f64["batched_loss"]),
                   _rel(rows["sequential"]["loss"], f64["sequential_loss"]))
    tolerance = max(1e-4, 2 * fp32_dev)
    agreement = {
        "fp32_loss_rel_diff": fp32_diff,
        "fp32_vs_fp64_deviation": fp32_dev,
        "fp32_tolerance": tolerance,
        "fp32_pyg_loss_rel_diff": _rel(rows["pyg_learn2learn_style"]["loss"], rows["sequential"]["loss"]),
        "bf16_loss_rel_diff": (_rel(rows["batched_bf16"]["loss"], rows["batched"]["loss"])
                               if "loss" in rows["batched_bf16"] else None),
        "fp64": f64,
    }
    losses_agree = fp32_diff <= tolerance and f64["loss_rel_diff"] <= 1e-6 and f64["grad_rel_diff"] <= 1e-6
    result = {"regime": asdict(regime), "config": asdict(cfg), "sizes": setup.stats, "paths": rows, "ratios": ratios,
              "ratios_median": ratios_median, "agreement": agreement, "losses_agree": losses_agree,
              "pyg_matches_reference": f64["pyg_loss_rel_diff"] <= 1e-6,
              "target_met": (ratios["batched_over_sequential"] or 0) >= regime.target}
    print_regime(key, result, args.repeats)
    return result


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_regime(key: str, result: dict, repeats: int) -> None:
    rows, ratios, agr = result["paths"], result["ratios"], result["agreement"]
    print(f"{'path':<24} {'s/step':>9} {'tasks/s':>9} {'peak MiB':>9} {'loss':>10}   (best of {repeats})")
    for name in PATHS:
        row = rows[name]
        if "error" in row:
            print(f"{name:<24} failed: {row['error']}")
            continue
        extra = f"  (collation {row['collate_seconds']:.3f} s)" if "collate_seconds" in row else ""
        print(f"{name:<24} {row['seconds']:>9.3f} {row['tasks_per_s']:>9.2f} {_fmt(row.get('peak_mem_mb'), '9.1f'):>9} "
              f"{row['loss']:>10.6f}{extra}")
    target = result["regime"]["target"]
    print(f"batched/sequential {_fmt(ratios['batched_over_sequential'], '.2f')}x (target >= {target:.1f}x: "
          f"{'met' if result['target_met'] else 'MISSED'}), batched/pyg_learn2learn_style "
          f"{_fmt(ratios['batched_over_pyg_learn2learn_style'], '.2f')}x, "
          f"bf16/batched {_fmt(ratios['bf16_over_batched'], '.2f')}x; by medians: batched/sequential "
          f"{_fmt(result['ratios_median']['batched_over_sequential'], '.2f')}x")
    print(f"losses agree: {result['losses_agree']} (fp32 rel diff {agr['fp32_loss_rel_diff']:.1e}, tolerance "
          f"{agr['fp32_tolerance']:.1e}; fp64 loss {agr['fp64']['loss_rel_diff']:.1e}, "
          f"grad {agr['fp64']['grad_rel_diff']:.1e}; PyG-style fp64 {agr['fp64']['pyg_loss_rel_diff']:.1e}; "
          f"bf16 vs fp32 {_fmt(agr['bf16_loss_rel_diff'], '.1e')})",
          flush=True)


NOTES = [
    "learn2learn is not used: `pip install learn2learn` (0.2.0) would pull torch 2.14.1 with CUDA wheels and "
    "numpy 1.26 into this environment; its clone_module/update_module/MAML.adapt are reproduced minimally here.",
    "pyg_learn2learn_style collates each task's support and query with Batch.from_data_list inside the timed "
    "step (as such loops do); collate_seconds is that share of its best time.",
    "Paths are timed interleaved (one call of each per round), best of --repeats after one warm-up; "
    "ratios use the best times, ratios_median the medians (this machine is shared and noisy).",
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--regimes", nargs="+", choices=["a", "b"], default=["a", "b"], help="regimes to run")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds, best kept (default 5; 1 with --quick)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default bench/results/meta_throughput.json)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (hidden 16, 2 layers, 4 tasks) for smoke tests")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's malloc settings alone (default: graphmeta.runtime.retain_freed_memory(), "
                             "as MetaTrainer does, for every path)")
    parser.add_argument("--probe", nargs=2, metavar=("REGIME", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.threads:
        torch.set_num_threads(args.threads)
    retained = False if args.default_allocator else retain_freed_memory()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available")
    cfg, regimes = QUICK if args.quick else FULL

    if args.probe:
        key, path = args.probe
        print(json.dumps(probe_memory(regimes[key], cfg, device, path)))
        return {}

    results: dict[str, Any] = {"device": args.device, "threads": torch.get_num_threads(), "repeats": args.repeats,
                               "quick": args.quick, "retain_freed_memory": retained, "dataset": "tox21", "train_tasks": list(TRAIN_TASKS),
                               "notes": NOTES, "regimes": {}}
    if device.type == "cuda":
        results["gpu"] = torch.cuda.get_device_name(device)
    for key in args.regimes:
        results["regimes"][key] = run_regime(key, regimes[key], cfg, args, device)
    path = write_record("meta_throughput", results, args.out)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
