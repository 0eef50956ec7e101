"""Plays the runner's part of TensorRT-LLM's contract by hand, without noderun.

A Job starts every task of every step of one test id as a local process,
with exactly the argv, environment and files the contract prescribes
(standin_contract.py states it clause by clause): the launcher on
the tasks of GEN/CTX/aggregated steps of multi-node jobs, Slurm variables
kept there and stripped to SLURM_PROCID elsewhere, the per-role pytest
options, the computed variables, the test list and waives file, and the
role logs and gen_server_<i>.done sentinel under TOD.  Tests break one
clause through Job.tweak and look at what the stand-in reports.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SRC = Path(__file__).resolve().parents[1]
DEFS = SRC / "tests" / "integration" / "defs"
LAUNCHER = SRC / "tensorrt_llm" / "llmapi" / "trtllm-llmapi-launch"
CONFIGS = SRC / "tests" / "scripts" / "perf-sanity"
sys.path.insert(0, str(DEFS))
from standin_contract import env_words  # noqa: E402  (the stand-in's own reading of *_env_var)
PYTEST = [sys.executable, "-m", "pytest"]
STAGE = "GB200-4_GPUs-PyTorch-Perf-Sanity-Example"
JOB_ID = "4242"


@dataclass
class Step:
    role: str
    step_id: int
    nodes: list  # tasks per node, e.g. [2, 2]
    launched: bool
    log: str = ""  # file under TOD the runner writes the step's output to

    @property
    def tasks(self):
        return sum(self.nodes)


@dataclass
class Result:
    codes: dict = field(default_factory=dict)  # role -> [exit status per task]
    seconds: float = 0.0

    def ok(self, role):
        return all(c == 0 for c in self.codes[role])


def disagg_steps(num_nodes=2):
    """disagg-tiny.yaml: GEN_0 (1 node x 2), CTX_0 (1 node x 1), then the two servers."""
    launched = num_nodes > 1
    return [
        Step("GEN_0", 0, [2], launched, "gen_server_0.log"),
        Step("CTX_0", 1, [1], launched, "ctx_server_0.log"),
        Step("DISAGG_SERVER", 2, [1], False, "disagg_server.log"),
        Step("BENCHMARK", 3, [1], False),
    ]


class Job:
    """One test id run the way the contract says, in tmp_path."""

    def __init__(self, tmp_path, test_id, steps, config, num_nodes, mode=None, server=None):
        self.tmp = Path(tmp_path)
        self.test_id = test_id
        self.steps = steps
        self.num_nodes = num_nodes
        self.mode = mode
        self.server = server
        self.cfg = yaml.safe_load((CONFIGS / config).read_text())
        self.ws = self.tmp / "ws"
        self.tod = self.ws / test_id
        self.ws.mkdir()
        (self.tmp / "models").mkdir()
        (self.tmp / "tmp").mkdir()
        self.test_list = self.ws / "test_list.txt"
        self.test_list.write_text(f"perf/test_perf_sanity.py::test_e2e[{test_id}]\n")
        (self.ws / "waives.txt").write_text("")
        self.base_env = {
            # The launcher's "#!/usr/bin/env python3" finds the Python running these tests first.
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": str(self.tmp / "tmp"),
            "stageName": STAGE,
            "LLM_MODELS_ROOT": str(self.tmp / "models"),
            "NVIDIA_IMEX_CHANNELS": "0",
            "HF_TOKEN": "hf_example_secret",
            "EXAMPLE_EXPECT_CI_ENV": f"stageName={STAGE},LLM_MODELS_ROOT,NVIDIA_IMEX_CHANNELS=0,HF_TOKEN",
            "EXAMPLE_WAIT_TIMEOUT": "20",
            "EXAMPLE_LAUNCH_TIMEOUT": "30",
        }
        self.tweaks = []  # functions (step, rank, argv, env) -> None, applied last
        self.touch_done = True  # the runner's gen_server_<i>.done sentinel
        self.procs = []

    def tweak(self, fn):
        self.tweaks.append(fn)
        return self

    # -------------------------------------------------------------- contract

    def deciding(self, step):
        return step.role in ("BENCHMARK", "WORKER")

    def argv(self, step):
        """§3, in order; the stage junit and CSV options only for the deciding role."""
        ws = str(self.ws)
        argv = [str(LAUNCHER)] if step.launched else []
        argv += PYTEST + ["-vv", "--timeout-method=thread", "--apply-test-list-correction", "--timeout=3600",
                          "--rootdir", str(DEFS), f"--test-prefix={STAGE}", f"--waives-file={ws}/waives.txt",
                          f"--output-dir={ws}/"]
        if self.deciding(step):
            argv += [f"--csv={ws}/report.csv"]
        argv += ["-o", "junit_logging=out-err"]
        if self.deciding(step):
            argv += ["--periodic-junit", "--periodic-junit-xmlpath", f"{ws}/results.xml", "--periodic-batch-size=1",
                     "--periodic-save-unfinished-test", "--periodic-hang-traceback"]
        argv += [f"--test-list={self.test_list}", "--splitting-algorithm", "least_duration", "--splits", "1", "--group", "1"]
        return argv

    def config_env(self, role):
        env = self.cfg.get("environment") or {}
        if role == "WORKER":
            if self.mode == "ctx_only":
                return {**env_words(env.get("worker_env_var")), **env_words(env.get("ctx_worker_env_var"))}
            entry = next(s for s in self.cfg["server_configs"] if s["name"] == self.server)
            return env_words(entry.get("server_env_var"))
        if role in ("DISAGG_SERVER", "BENCHMARK"):
            return env_words(env.get("server_env_var" if role == "DISAGG_SERVER" else "benchmark_env_var"))
        kind = role.split("_")[0].lower()
        return {**env_words(env.get("worker_env_var")), **env_words(env.get(f"{kind}_worker_env_var"))}

    def env(self, step, rank, local, node_index):
        """§4 for one task."""
        env = dict(self.base_env)
        slurm = {
            "SLURM_JOB_ID": JOB_ID, "SLURM_STEP_ID": str(step.step_id), "SLURM_PROCID": str(rank),
            "SLURM_NTASKS": str(step.tasks), "SLURM_LOCALID": str(local), "SLURM_NODEID": str(node_index),
            "SLURM_JOB_NUM_NODES": str(self.num_nodes), "SLURMD_NODENAME": f"node{node_index}",
            "PMIX_RANK": str(rank), "PMI_SIZE": str(step.tasks),
        }
        if step.launched:
            env.update(slurm)  # the launcher needs them; it strips them for rank 0's pytest
        else:
            env["SLURM_PROCID"] = str(rank)
        env["NODERUN_NODE"] = f"node{node_index}"
        if step.role != "WORKER":
            env["DISAGG_SERVING_TYPE"] = step.role
        if step.role.startswith(("GEN_", "CTX_")):
            env["FLASHINFER_JIT_DIR"] = f"/tmp/flashinfer_jit_cache_{local}"
            env["HF_HOME"] = "/tmp/hf_home"
        if step.role.startswith(("GEN_", "CTX_")) or step.role == "WORKER":
            env["NVIDIA_VISIBLE_DEVICES"] = "0,1"
            env["CUDA_VISIBLE_DEVICES"] = str(local)
        if self.mode == "gen_only" and step.role.startswith("GEN_"):
            first = str((self.cfg.get("benchmark") or {}).get("concurrency_list", "1")).split()[0]
            env["TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP"] = "1"
            env["TLLM_BENCHMARK_REQ_QUEUES_SIZE"] = first
        env.update(self.config_env(step.role))
        env["TRTLLM_TIMEOUT_DATA_FILE"] = f"{self.ws}/timeout_data_step{step.step_id}_rank{rank}.jsonl"
        return env

    # -------------------------------------------------------------- running

    def run(self, timeout=60):
        """Start every step like the reference (GEN, CTX, server, benchmark), wait for all."""
        self.tod.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        by_role = {}
        watchers = []
        for step in self.steps:
            log_path = self.tod / step.log if step.log else self.ws / f"{step.role}.log"
            if step.role.startswith("GEN_"):
                (self.tod / f"gen_server_{step.role[4:]}.done").unlink(missing_ok=True)
            log = open(log_path, "ab")
            procs = []
            rank = 0
            for node_index, count in enumerate(step.nodes):
                for local in range(count):
                    argv, env = self.argv(step), self.env(step, rank, local, node_index)
                    for fn in self.tweaks:
                        fn(step, rank, argv, env)
                    procs.append(subprocess.Popen(argv, cwd=DEFS, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
                    rank += 1
            log.close()
            self.procs += procs
            by_role[step.role] = procs
            if step.role.startswith("GEN_") and self.touch_done:
                watchers.append(threading.Thread(target=self._touch_done, args=(procs, step.role[4:]), daemon=True))
                watchers[-1].start()
        result = Result()
        deadline = started + timeout
        for role, procs in by_role.items():
            codes = []
            for p in procs:
                try:
                    codes.append(p.wait(timeout=max(0.1, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    codes.append(None)
            result.codes[role] = codes
        for w in watchers:
            w.join(timeout=5)
        self.stop()
        result.seconds = time.monotonic() - started
        return result

    def _touch_done(self, procs, index):
        for p in procs:
            p.wait()
        (self.tod / f"gen_server_{index}.done").touch()

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    # -------------------------------------------------------------- records

    def record(self, role, rank=0):
        path = self.ws / "test_output" / f"{role}.{rank}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def launcher_record(self, role, rank):
        path = self.ws / "test_output" / "launcher" / f"{role}.{rank}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def violations(self, role, rank=0):
        rec = self.record(role, rank) or {}
        return (rec.get("violations") or []) + (rec.get("cross_violations") or [])

    def log(self, name):
        path = self.tod / name if (self.tod / name).exists() else self.ws / name
        return path.read_text(errors="replace") if path.exists() else ""
