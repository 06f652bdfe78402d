#!/usr/bin/env python3
"""Writes test/fixtures/{verl,trl,prime-rl}: small runs laid out byte for byte as each trainer writes them.

Each writer below repeats the lines of the trainer code it imitates (file and commit in its docstring), so a
fixture changes only when that code does. Needs pandas and pyarrow for TRL's Parquet (TRL writes it with
`DataFrame.to_parquet`); from the wheels in /opt/pypi/files:

    python3 -m venv /tmp/pq && /tmp/pq/bin/pip install --no-index --find-links /opt/pypi/files pandas pyarrow
    /tmp/pq/bin/python scripts/make_external_fixtures.py

orjson (verl's file logger, prime-rl's rollout writer) is not installed here: its output for these records
(str keys, finite floats, no NaN) is `json.dumps(..., separators=(",", ":"), ensure_ascii=False)`.
"""

import json
import os
import pprint
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent / "test" / "fixtures"

PROMPTS = ["What is 17 + 25?", "What is 38 + 46?"]
ANSWERS = ["42", "84"]
# Four completions per prompt: right, wrong (forgot the carry), right with extra words, wrong.
COMPLETIONS = [
    ["42", "32", "The answer is 42", "41"],
    ["84", "74", "84.", "86"],
]


def orjson_dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# ---------------------------------------------------------------------------------------------------------------
# verl  (volcengine/verl @ b178a3cd56f58b2d502255daba591e92833930a7)
# ---------------------------------------------------------------------------------------------------------------


def verl_dump_generations(dump_path: Path, global_steps, inputs, outputs, gts, scores, reward_extra_infos_dict):
    """verl/trainer/ppo/ray_trainer.py `RayPPOTrainer._dump_generations` (lines 396-422)."""
    os.makedirs(dump_path, exist_ok=True)
    filename = os.path.join(dump_path, f"{global_steps}.jsonl")
    n = len(inputs)
    base_data = {"input": inputs, "output": outputs, "gts": gts, "score": scores, "step": [global_steps] * n}
    for k, v in reward_extra_infos_dict.items():
        if len(v) == n:
            base_data[k] = v
    lines = []
    for i in range(n):
        entry = {k: v[i] for k, v in base_data.items()}
        lines.append(json.dumps(entry, ensure_ascii=False))
    with open(filename, "w") as f:
        f.write("\n".join(lines) + "\n")


def verl_file_logger_line(data, step) -> str:
    """verl/utils/tracking.py `FileLogger.log` (lines 250-252): orjson.dumps({"step", "data"}) + b"\\n"."""
    return orjson_dumps({"step": step, "data": data}) + "\n"


def verl_console_line(data, step) -> str:
    """verl/utils/logger/aggregate_logger.py `concat_dict_to_str`, printed by `LocalLogger.log` inside Ray's
    TaskRunner actor, whose stdout Ray prefixes with `(TaskRunner pid=N)`."""
    output = [f"step:{step}"]
    for k, v in data.items():
        output.append(f"{k}:{pprint.pformat(v)}")
    return "(TaskRunner pid=48213) " + " - ".join(output) + "\n"


def verl_metrics(step: int, scores: list) -> dict:
    """The keys verl's `compute_data_metrics` / actor update log (a subset), numpy scalars as verl has them."""
    return {
        "actor/entropy": np.float64(0.61 - 0.05 * step),
        "actor/kl_loss": np.float64(0.001 * step),
        "actor/pg_loss": np.float64(-0.012 * step),
        "actor/pg_clipfrac": np.float64(0.002 * step),
        "actor/ppo_kl": np.float64(0.0004 * step),
        "actor/lr": 1e-06,
        "critic/score/mean": np.float64(np.mean(scores)),
        "critic/score/max": np.float64(np.max(scores)),
        "critic/score/min": np.float64(np.min(scores)),
        "response_length/mean": np.float64(3.5 + step),
        "response_length/max": np.float64(16.0),
        "response_length/clip_ratio": np.float64(0.0),
        "timing_s/gen": 1.25 * step,
        "timing_s/step": 4.5 * step,
    }


def jsonable(metrics: dict) -> dict:
    # orjson's OPT_SERIALIZE_NUMPY writes numpy scalars as plain numbers.
    return {k: float(v) for k, v in metrics.items()}


def verl_rows(step: int):
    """A step's samples in the order verl may dump them: interleaved, not group by group (balance_batch reorders)."""
    rows = []
    for j in range(4):
        for p, prompt in enumerate(PROMPTS):
            completion = COMPLETIONS[p][(j + step) % 4]
            correct = completion.strip(".").endswith(ANSWERS[p])
            rows.append((prompt, completion, ANSWERS[p], 1.0 if correct else 0.0))
    return rows


def make_verl() -> None:
    run = fresh(ROOT / "verl" / "run")
    (run / ".hydra").mkdir()
    # Hydra's dump of the resolved config (OmegaConf.to_yaml), the keys the reader needs.
    (run / ".hydra" / "config.yaml").write_text(
        "algorithm:\n  adv_estimator: grpo\n  norm_adv_by_std_in_grpo: true\n  use_kl_in_reward: false\n"
        "actor_rollout_ref:\n  rollout:\n    'n': 4\ntrainer:\n  project_name: gsm8k\n  experiment_name: demo\n"
        "  rollout_data_dir: rollout_data\n  validation_data_dir: validation_data\n"
    )
    log_lines, console = [], []
    # Validation before training runs at global_steps = 0 (RayPPOTrainer.fit: val_before_train).
    val = [(p, c, a, s) for (p, c, a, s) in verl_rows(0)][:4]
    verl_dump_generations(run / "validation_data", 0, [r[0] for r in val], [r[1] for r in val], [r[2] for r in val],
                          [r[3] for r in val], {"acc": [r[3] == 1.0 for r in val]})
    for step in (1, 2, 3):
        rows = verl_rows(step)
        scores = [r[3] for r in rows]
        verl_dump_generations(run / "rollout_data", step, [r[0] for r in rows], [r[1] for r in rows],
                              [r[2] for r in rows], scores,
                              {"acc": [s == 1.0 for s in scores], "pred": [r[1] for r in rows]})
        metrics = verl_metrics(step, scores)
        log_lines.append(verl_file_logger_line(jsonable(metrics), step))
        console.append(verl_console_line(metrics, step))
    (run / "demo.jsonl").write_text("".join(log_lines))

    # A console-only run: the metrics as `step:N - key:value` lines among Ray's other output.
    other = fresh(ROOT / "verl" / "console")
    (other / "train.log").write_text(
        "(TaskRunner pid=48213) Total training steps: 3\n" + "".join(console) + "(TaskRunner pid=48213) Final validation metrics: {}\n"
    )
    shutil.copytree(run / "rollout_data", other / "rollout_data")


# ---------------------------------------------------------------------------------------------------------------
# TRL  (huggingface/trl @ f2cd57710ae345ea6428ae95363267fcf38a3dc8)
# ---------------------------------------------------------------------------------------------------------------


def trl_log_completions(output_dir: Path, global_step: int, logs: dict) -> None:
    """trl/trainer/grpo_trainer.py `GRPOTrainer.log`, log_completions=True (lines 3310-3327)."""
    table = {
        "step": [global_step] * len(logs["prompt"]),
        "prompt": logs["prompt"],
        "completion": logs["completion"],
        **logs["rewards"],
        **logs["extra"],
        "advantage": logs["advantages"],
    }
    df_base = pd.DataFrame(table)
    df_base.to_parquet(os.path.join(output_dir, "completions", f"completions_{global_step:05d}.parquet"))


def trl_save_state(path: Path, state: dict) -> None:
    """transformers TrainerState.save_to_json: json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\\n"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def make_trl() -> None:
    run = fresh(ROOT / "trl" / "run")
    (run / "completions").mkdir()  # GRPOTrainer.__init__ creates it when log_completions is set
    history = []
    for step in (1, 2, 3, 4):
        prompts, completions, accuracy, fmt = [], [], [], []
        # RepeatSampler: each prompt's num_generations completions come one after the other.
        for p, prompt in enumerate(PROMPTS):
            for j in range(4):
                completion = COMPLETIONS[p][(j + step) % 4]
                prompts.append(prompt)
                completions.append(completion)
                accuracy.append(1.0 if completion.strip(".").endswith(ANSWERS[p]) else 0.0)
                fmt.append(1.0 if completion.isdigit() else 0.0)
        total = np.array(accuracy) + np.array(fmt)
        grouped = total.reshape(2, 4)
        advantages = ((grouped - grouped.mean(1, keepdims=True)) / (grouped.std(1, ddof=1, keepdims=True) + 1e-4)).reshape(-1)
        history.append({
            "clip_ratio/high_max": 0.0, "clip_ratio/high_mean": 0.0, "clip_ratio/low_mean": 0.0, "clip_ratio/low_min": 0.0,
            "clip_ratio/region_mean": 0.0, "completions/clipped_ratio": 0.0, "completions/max_length": 6.0,
            "completions/mean_length": 3.0, "completions/min_length": 2.0, "entropy": 0.5 - 0.02 * step,
            "epoch": step / 4, "frac_reward_zero_std": 0.0, "grad_norm": 1.5, "kl": 0.001 * step, "learning_rate": 1e-06,
            "loss": 0.0, "num_tokens": 120.0 * step, "reward": float(total.mean()), "reward_std": float(total.std(ddof=1)),
            "rewards/accuracy_reward/mean": float(np.mean(accuracy)), "rewards/accuracy_reward/std": float(np.std(accuracy, ddof=1)),
            "rewards/format_reward/mean": float(np.mean(fmt)), "rewards/format_reward/std": float(np.std(fmt, ddof=1)),
            "step": step,
        })
        if step % 2 == 0:  # logging_steps = 2: Trainer.log runs, and with it the completions table
            trl_log_completions(run, step, {
                "prompt": prompts, "completion": completions,
                "rewards": {"accuracy_reward": accuracy, "format_reward": fmt}, "extra": {},
                "advantages": advantages.tolist(),
            })
    history.append({"epoch": 1.0, "step": 4, "total_flos": 0.0, "train_loss": 0.0, "train_runtime": 12.5,
                    "train_samples_per_second": 2.56, "train_steps_per_second": 0.32})
    state = {
        "best_global_step": None, "best_metric": None, "best_model_checkpoint": None, "epoch": 1.0, "eval_steps": 500,
        "global_step": 4, "is_hyper_param_search": False, "is_local_process_zero": True, "is_world_process_zero": True,
        "log_history": history, "logging_steps": 2, "max_steps": 4, "num_input_tokens_seen": 0, "num_train_epochs": 1,
        "save_steps": 2, "stateful_callbacks": {}, "total_flos": 0.0, "train_batch_size": 8, "trial_name": None,
        "trial_params": None,
    }
    trl_save_state(run / "checkpoint-2" / "trainer_state.json", {**state, "global_step": 2, "epoch": 0.5, "log_history": history[:2]})
    trl_save_state(run / "checkpoint-4" / "trainer_state.json", state)


# ---------------------------------------------------------------------------------------------------------------
# prime-rl  (PrimeIntellect-ai/prime-rl: token exports @ d2f82fa63a75a6dbb0fe0a4c724e2578c1f850ea,
#            rollout writer @ 07a70e62ed52ba8ad456e967343916a878627d2b)
# ---------------------------------------------------------------------------------------------------------------

VOCAB = {"What": 3923, " is": 374, " 17": 220, " +": 489, " 25": 914, " 38": 1987, " 46": 2790, "?": 30,
         "2": 17, "3": 18, "4": 19, "7": 22, "8": 23, "<eos>": 151645}


def prime_token_export_record(step, rank, micro_step, micro_idx, export_idx, prompt_ids, completion_ids, advantage,
                              reward, rng) -> dict:
    """src/prime_rl/trainer/rl/token_export.py `TokenExporter.export` (SCHEMA_VERSION 1): one record per sequence
    with a trained token, every column sliced to the sequence; floats through float32 (`_tensor_to_floats`)."""
    n_prompt, n = len(prompt_ids), len(prompt_ids) + len(completion_ids)
    f32 = lambda xs: [float(np.float32(x)) for x in xs]  # noqa: E731
    inference = -np.abs(rng.normal(0.4, 0.3, n))
    trainer = inference + rng.normal(0, 0.02, n)
    log_ratio = trainer - inference
    ratio = np.exp(log_ratio)
    prob_delta = np.exp(trainer) - np.exp(inference)
    loss_mask = [i >= n_prompt for i in range(n)]
    masked_high = [bool(loss_mask[i] and advantage > 0 and prob_delta[i] > 0.02) for i in range(n)]
    masked_low = [bool(loss_mask[i] and advantage < 0 and prob_delta[i] < -0.02) for i in range(n)]
    return {
        "schema_version": 1, "step": step, "rank": rank, "micro_step": micro_step, "micro_sequence_idx": micro_idx,
        "export_sequence_idx": export_idx, "env_name": "arithmetic", "training_mode": "rl",
        "token_ids": prompt_ids + completion_ids, "position_ids": list(range(n)), "loss_mask": loss_mask,
        "advantages": f32([advantage] * n), "rewards": f32([reward] * n),
        "inference_logprobs": f32(inference), "trainer_logprobs": f32(trainer), "entropy": f32(np.abs(rng.normal(0.8, 0.3, n))),
        "mismatch_kl": f32(np.exp(log_ratio) - log_ratio - 1), "log_importance_ratio": f32(log_ratio),
        "importance_ratio": f32(ratio), "prob_delta": f32(prob_delta),
        "is_masked": [a or b for a, b in zip(masked_high, masked_low)], "is_masked_high": masked_high, "is_masked_low": masked_low,
    }


def prime_save_rollouts(rollouts, path: Path, exclude_keys) -> None:
    """src/prime_rl/orchestrator/utils.py `save_rollouts`: one orjson line per verifiers rollout, "trajectory" left out."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for rollout in rollouts:
            row = {k: v for k, v in rollout.items() if k not in exclude_keys} if exclude_keys else rollout
            f.write(orjson_dumps(row) + "\n")


def make_prime_rl() -> None:
    run = fresh(ROOT / "prime-rl" / "run")
    rng = np.random.default_rng(7)
    prompt_text = ["What is 17 + 25?", "What is 38 + 46?"]
    prompt_ids = [[VOCAB["What"], VOCAB[" is"], VOCAB[" 17"], VOCAB[" +"], VOCAB[" 25"], VOCAB["?"]],
                  [VOCAB["What"], VOCAB[" is"], VOCAB[" 38"], VOCAB[" +"], VOCAB[" 46"], VOCAB["?"]]]
    answers = [["42", "32"], ["84", "74"]]
    for step in (1, 2):
        rollouts, exports = [], {0: [], 1: []}
        for p in range(2):
            rewards = [1.0 if a == ANSWERS[p] else 0.0 for a in answers[p]]
            mean = sum(rewards) / len(rewards)
            for j, answer in enumerate(answers[p]):
                advantage = rewards[j] - mean
                rollouts.append({
                    "example_id": p, "prompt": [{"role": "user", "content": prompt_text[p]}],
                    "completion": [{"role": "assistant", "content": answer}], "answer": ANSWERS[p], "task": "arithmetic",
                    "info": {}, "reward": rewards[j], "advantage": advantage, "metrics": {"correct_answer": rewards[j]},
                    "is_truncated": False, "stop_condition": "completed", "error": None,
                    "trajectory": [{"tokens": "left out by save_rollouts"}],
                })
                if step == 1:  # token export is opt-in; this run enabled it for step 1 only
                    rank = j  # the packer spreads a step's samples over the ranks
                    completion_ids = [VOCAB[c] for c in answer] + [VOCAB["<eos>"]]
                    exports[rank].append(prime_token_export_record(step, rank, 0, len(exports[rank]), len(exports[rank]),
                                                                   prompt_ids[p], completion_ids, advantage, rewards[j], rng))
        prime_save_rollouts(rollouts, run / "rollouts" / f"step_{step}" / "train_rollouts.jsonl", exclude_keys={"trajectory"})
        for rank, records in exports.items():
            if records:
                step_dir = run / "token_exports" / f"step_{step}"
                step_dir.mkdir(parents=True, exist_ok=True)
                with (step_dir / f"rank_{rank}.jsonl").open("w", encoding="utf-8") as file:
                    for record in records:
                        file.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")


if __name__ == "__main__":
    make_verl()
    make_trl()
    make_prime_rl()
    print(f"wrote fixtures under {ROOT}")
