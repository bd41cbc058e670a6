"""The pretraining loop: objectives summed per step, held-out evaluation, checkpoints and exact resume.

Step ``s`` trains on a batch fixed by ``(seed, s)`` alone: the training molecules are visited in epochs, each a
permutation drawn from ``episode_rng(seed, ORDER_STREAM, epoch, 1)``, and the step's masks and augmentations
come from ``episode_rng(seed, s)``. ``last.pt`` (written every ``checkpoint_every`` steps and at every
evaluation) holds the model with all heads, the optimizer, the learning-rate schedule, the step, the history and
the losses not yet logged, so ``resume=True`` ends with bitwise the weights of an uninterrupted run (same machine,
same threads). ``encoder.pt`` (the backbone only) is written at every evaluation.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from graphmeta import __version__
from graphmeta.safe_write import atomic_write_json
from graphmeta.checkpoint import load_checkpoint, save_checkpoint
from graphmeta.data.download import sha256_file
from graphmeta.data.episodes import episode_rng
from graphmeta.data.graphs import GraphStore
from graphmeta.nn.backbone import GraphEncoder
from graphmeta.pretrain.augment import FieldNames
from graphmeta.pretrain.config import PretrainConfig, resume_mismatch
from graphmeta.pretrain.encoder_file import ENCODER_KIND, load_pretrained_encoder
from graphmeta.pretrain.hardware import resolve_device, resolve_precision
from graphmeta.pretrain.labels import GraphLabels, per_task_roc_auc
from graphmeta.pretrain.objectives import PretrainModel, draw_inputs, run_objectives
from graphmeta.runtime import deterministic
from graphmeta.schedules import lr_multiplier

__all__ = ["STATE_KIND", "PretrainData", "Pretrainer", "lr_factor"]

#: Checkpoint kind of ``last.pt``.
STATE_KIND = "pretrain-state"
# Random streams besides the steps' ``episode_rng(seed, step)``; the trailing 1 keeps them apart from any step.
_ORDER_STREAM, _EVAL_STREAM = 1_000_003, 1_000_033
_TIMING_KEYS = ("molecules", "seconds", "molecules_per_s", "steps_per_s", "eval_seconds")


@dataclass
class PretrainData:
    """What a run trains on: the graphs, the ids it may draw from (training and held-out), a JSON record that
    identifies them (a resume must see the same) and, for the multitask objective, the labels."""

    graphs: GraphStore
    featurizer: str | None
    pool: np.ndarray
    record: dict[str, Any]
    labels: GraphLabels | None = None


def lr_factor(step: int, config: PretrainConfig) -> float:
    """Multiplier of ``config.lr`` at step ``step`` (:func:`graphmeta.schedules.lr_multiplier` of the config)."""
    return lr_multiplier(step, config.steps, config.warmup_steps, config.lr_schedule)


def _cpu(value: Any) -> Any:
    """Tensors (nested in dicts and lists) on the CPU: checkpoints load on any device."""
    if torch.is_tensor(value):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu(v) for v in value)
    return value


class Pretrainer:
    """One pretraining run of ``config`` on ``data``, writing into ``out_dir`` (``None``: nothing written)."""

    def __init__(self, data: PretrainData, config: PretrainConfig, out_dir: str | os.PathLike | None = None,
                 progress: bool = True) -> None:
        cfg = self.config = config
        if "multitask" in cfg.objectives and data.labels is None:
            raise ValueError("the multitask objective needs labelled tasks: use supervised_pretrain(collection, ...)")
        n = len(data.pool)
        if n <= cfg.eval_molecules:
            raise ValueError(f"the corpus has {n} molecules; it must be larger than eval_molecules={cfg.eval_molecules}")
        self.data, self.progress = data, progress
        self.out = Path(out_dir) if out_dir is not None else None
        self.device = resolve_device(cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device)
        order = np.random.default_rng(cfg.seed).permutation(n)
        self.held, self.train = np.sort(data.pool[order[:cfg.eval_molecules]]), data.pool[order[cfg.eval_molecules:]]
        self.fields = FieldNames.of(data.graphs)
        torch.manual_seed(cfg.seed)
        encoder = GraphEncoder(conv=cfg.conv, hidden_channels=cfg.hidden_channels, num_layers=cfg.num_layers,  # type: ignore[arg-type]
                               norm=cfg.norm, heads=cfg.heads)  # type: ignore[arg-type]
        self.model = PretrainModel(encoder, cfg.objectives, data.labels.n_tasks if data.labels else 0).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, self.config))
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.init_record: dict[str, Any] | None = None
        self._pending: dict[str, Any] = self._fresh_pending()
        self._order: tuple[int, np.ndarray] | None = None

    @property
    def encoder(self) -> GraphEncoder:
        return self.model.encoder

    @staticmethod
    def _fresh_pending() -> dict[str, Any]:
        """Training losses, molecules and seconds since the last evaluation (checkpointed: exact resume)."""
        return {"losses": {}, "molecules": 0, "seconds": 0.0, "steps": 0}

    # -- data order ------------------------------------------------------------------------------------------
    def batch_ids(self, step: int) -> np.ndarray:
        """Graph ids of step ``step``: consecutive slices of a per-epoch permutation of the training molecules (each
        molecule at most once per epoch: the last ``len(train) % batch_size`` of each permutation sit that epoch out)."""
        size = min(self.config.batch_size, len(self.train))
        epoch, k = divmod(step, len(self.train) // size)
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, episode_rng(self.config.seed, _ORDER_STREAM, epoch, 1).permutation(len(self.train)))
        return np.sort(self.train[self._order[1][k * size:(k + 1) * size]])  # sorted: fewer pages of a mapped store

    # -- checkpoints -----------------------------------------------------------------------------------------
    def checkpoint_config(self) -> dict[str, Any]:
        """What ``encoder.pt`` and ``last.pt`` record besides weights (JSON-safe)."""
        return {"pretrain": self.config.to_dict(), "encoder": self.encoder.config, "featurizer": self.data.featurizer,
                "corpus": self.data.record, "init_from": self.init_record,
                "n_tasks": self.data.labels.n_tasks if self.data.labels else 0, "precision": self.precision,
                "device": self.device.type, "step": self.step, "graphmeta": __version__}

    def _state(self) -> dict[str, Any]:
        return {"model": _cpu(self.model.state_dict()), "optimizer": _cpu(self.optimizer.state_dict()),
                "scheduler": self.scheduler.state_dict(), "step": self.step, "history": json.dumps(self.history),
                "pending": json.dumps(self._pending), "torch_rng": torch.get_rng_state()}

    def save_last(self) -> Path | None:
        if self.out is None:
            return None
        return save_checkpoint(self.out / "last.pt", STATE_KIND, self.checkpoint_config(), self._state())

    def save_encoder(self) -> Path | None:
        if self.out is None:
            return None
        return save_checkpoint(self.out / "encoder.pt", ENCODER_KIND, self.checkpoint_config(),
                               {"encoder": _cpu(self.encoder.state_dict())})

    def load(self, path: Path) -> None:
        """Restores a ``last.pt`` of the same run (same config up to steps / checkpoint_every / extra, same data)."""
        blob = load_checkpoint(path, kind=STATE_KIND)
        saved = blob["config"]
        different = resume_mismatch(saved["pretrain"], self.config)
        if different:
            now = self.config.to_dict()
            detail = ", ".join(f"{k}: checkpoint {saved['pretrain'].get(k)!r} vs now {now.get(k)!r}" for k in different)
            raise ValueError(f"{path}: checkpoint was written with a different PretrainConfig ({detail}); refusing to "
                             f"resume (only steps, checkpoint_every, extra, device and precision may change)")
        if saved.get("corpus") != self.data.record:
            keys = sorted(k for k in set(saved.get("corpus") or {}) | set(self.data.record)
                          if (saved.get("corpus") or {}).get(k) != self.data.record.get(k))
            raise ValueError(f"{path}: checkpoint was trained on other molecules or labels (differing: "
                             f"{', '.join(keys)}); refusing to resume")
        if saved.get("featurizer") != self.data.featurizer:
            raise ValueError(f"{path}: checkpoint was trained on graphs from featurizer {saved.get('featurizer')!r}, "
                             f"the data comes from {self.data.featurizer!r}; refusing to resume")
        state = blob["state"]
        step = int(state["step"])
        if step > self.config.steps:
            raise ValueError(f"{path}: the checkpoint is at step {step}, past steps={self.config.steps}; pass "
                             f"steps >= {step} to resume it")
        if saved.get("precision") != self.precision or saved.get("device") != self.device.type:
            warnings.warn(f"{path}: written by a run in {saved.get('precision')} on {saved.get('device')}, resumed in "
                          f"{self.precision} on {self.device.type}: the result will not equal an uninterrupted run "
                          f"bit for bit", RuntimeWarning, stacklevel=3)
        if self.config.lr_schedule == "cosine" and saved["pretrain"].get("steps") != self.config.steps:
            warnings.warn(f"{path}: steps changed from {saved['pretrain'].get('steps')} to {self.config.steps} with a "
                          f"cosine schedule: the learning rate follows the cosine over the new length from step "
                          f"{step} ({lr_factor(step, self.config) * self.config.lr:.3g} now)", RuntimeWarning,
                          stacklevel=3)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * lr_factor(step, self.config)  # the current config's schedule governs from here
        self.scheduler._last_lr = [g["lr"] for g in self.optimizer.param_groups]  # type: ignore[attr-defined]
        self.step, self.history = step, json.loads(state["history"])
        self._pending = json.loads(state["pending"])
        self.init_record = saved.get("init_from")
        torch.set_rng_state(state["torch_rng"])

    # -- training --------------------------------------------------------------------------------------------
    def _train_step(self, step: int) -> None:
        cfg = self.config
        ids = torch.from_numpy(self.batch_ids(step))
        inputs = draw_inputs(self.data.graphs.gather(ids), ids, cfg, episode_rng(cfg.seed, step), self.fields,
                             self.data.labels).to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            outputs = run_objectives(self.model, inputs, cfg.temperature)
        weights = cfg.weights
        loss = sum(weights[o] * outputs[o].loss for o in cfg.objectives)
        values = {o: float(outputs[o].loss.detach()) for o in cfg.objectives}
        if not all(math.isfinite(v) for v in values.values()):
            raise FloatingPointError(f"non-finite pretraining loss at step {step} ({values}); lower lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        self.optimizer.step()
        self.scheduler.step()
        for o, v in values.items():
            self._pending["losses"].setdefault(o, []).append(v)
        self._pending["molecules"] += int(ids.numel())
        self._pending["steps"] += 1

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out loss of every objective (fixed seeded masks and views, fp32), masked-atom accuracy, contrastive
        top-1 retrieval among the molecules of a held-out batch (about ``batch_size``), multitask mean ROC-AUC
        over the tasks with both classes among the held-out molecules."""
        cfg = self.config
        if not len(self.held):
            return {}
        self.model.eval()
        sums = {o: [0.0, 0, 0] for o in cfg.objectives}  # loss * count, count, correct
        tasks, scores, targets = [], [], []
        for i, ids_np in enumerate(np.array_split(self.held, max(1, len(self.held) // cfg.batch_size))):
            ids = torch.from_numpy(ids_np)
            inputs = draw_inputs(self.data.graphs.gather(ids), ids, cfg, episode_rng(cfg.seed, _EVAL_STREAM, i, 1),
                                 self.fields, self.data.labels).to(self.device)
            for o, out in run_objectives(self.model, inputs, cfg.temperature).items():
                if out.count:
                    sums[o][0] += float(out.loss) * out.count
                    sums[o][1] += out.count
                    sums[o][2] += int(out.correct) if out.correct is not None else 0
                if o == "multitask" and out.count:
                    tasks.append(inputs.pairs[1].cpu())  # type: ignore[index]
                    targets.append(inputs.pairs[2].cpu())  # type: ignore[index]
                    scores.append(out.scores.cpu())  # type: ignore[union-attr]
        self.model.train()
        metrics: dict[str, float] = {}
        for o, (total, count, correct) in sums.items():
            metrics[f"heldout_{o}_loss"] = total / count if count else math.nan
            if o == "masking":
                metrics["heldout_masked_accuracy"] = correct / count if count else math.nan
            elif o == "contrastive":
                metrics["heldout_contrastive_top1"] = correct / count if count else math.nan
        if "multitask" in sums:
            auc = per_task_roc_auc(torch.cat(tasks), torch.cat(scores), torch.cat(targets),
                                   self.data.labels.n_tasks) if tasks else torch.tensor([math.nan])  # type: ignore[union-attr]
            scored = auc[~torch.isnan(auc)]
            metrics["heldout_mean_roc_auc"] = float(scored.mean()) if scored.numel() else math.nan
            metrics["heldout_auc_tasks"] = int(scored.numel())
        metrics["heldout_loss"] = sum(w * metrics[f"heldout_{o}_loss"] for o, w in cfg.weights.items())
        return metrics

    def _log(self, eval_seconds: float, metrics: dict[str, float]) -> dict[str, Any]:
        pending, cfg = self._pending, self.config
        train = {o: float(np.mean(v)) for o, v in pending["losses"].items()}
        seconds = pending["seconds"]
        entry: dict[str, Any] = {"step": self.step, "lr": cfg.lr * lr_factor(self.step - 1, cfg),  # of the last step
                                 "train_loss": sum(w * train.get(o, math.nan) for o, w in cfg.weights.items()),
                                 **{f"train_{o}_loss": v for o, v in train.items()}, **metrics,
                                 "molecules": pending["molecules"], "seconds": seconds,
                                 "molecules_per_s": pending["molecules"] / seconds if seconds > 0 else math.nan,
                                 "steps_per_s": pending["steps"] / seconds if seconds > 0 else math.nan,
                                 "eval_seconds": eval_seconds}
        self.history.append(entry)
        self._pending = self._fresh_pending()
        return entry

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Runs (or, with ``resume=True`` and ``out_dir/last.pt``, continues) the run; returns ``{"history",
        "encoder_state", "checkpoint" (encoder.pt), "last" (last.pt), "precision", "device", "steps_done"}``."""
        with deterministic():
            return self._fit(resume)

    def _start(self, resume: bool) -> None:
        last = self.out / "last.pt" if self.out is not None else None
        if resume and last is None:
            raise ValueError("resume=True needs an out_dir holding last.pt")
        if last is not None:
            self.out.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            if last.is_file():
                if not resume:
                    raise ValueError(f"{last} exists (an earlier run of this folder): resume it (resume=True, "
                                     f"`graphmeta pretrain --resume`) or choose another output folder")
                self.load(last)
                return
        if self.config.init_from:
            blob = load_pretrained_encoder(self.config.init_from, self.encoder, featurizer=self.data.featurizer)
            self.init_record = {"path": str(self.config.init_from), "sha256": sha256_file(self.config.init_from),
                                "step": blob.get("step"), "objectives": blob.get("pretrain", {}).get("objectives")}

    def _fit(self, resume: bool) -> dict[str, Any]:
        cfg = self.config
        self._start(resume)
        names = "+".join(cfg.objectives)
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"pretraining ({names}, {self.precision}, "
                   f"{self.device.type})", unit="step", disable=not self.progress)
        while self.step < cfg.steps:
            started = time.perf_counter()
            self._train_step(self.step)
            self.step += 1
            bar.update(1)
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                self._pending["seconds"] += time.perf_counter() - started
                evaluated = time.perf_counter()
                metrics = self.evaluate()
                entry = self._log(time.perf_counter() - evaluated, metrics)
                bar.set_postfix(loss=f"{entry['train_loss']:.3f}", heldout=f"{entry.get('heldout_loss', math.nan):.3f}",
                                mol_s=f"{entry['molecules_per_s']:.0f}")
                self.save_encoder()
                self.save_last()
                if self.out is not None:
                    atomic_write_json(self.history, self.out / "history.json")
                continue
            if cfg.checkpoint_every is not None and self.step % cfg.checkpoint_every == 0:
                self.save_last()
            self._pending["seconds"] += time.perf_counter() - started
        bar.close()
        return {"history": list(self.history), "encoder_state": _cpu(self.encoder.state_dict()),
                "checkpoint": str(self.out / "encoder.pt") if self.out is not None else None,
                "last": str(self.out / "last.pt") if self.out is not None else None,
                "precision": self.precision, "device": self.device.type, "steps_done": self.step}
