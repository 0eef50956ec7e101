"""A tiny stand-in for TensorRT-LLM's perf/test_perf_sanity.py::test_e2e.

Every task of a noderun job runs ``pytest perf/test_perf_sanity.py::test_e2e[<id>]``
(with its own --junit-xml).  Like the real test, this one learns its role from
DISAGG_SERVING_TYPE (GEN_i, CTX_i, DISAGG_SERVER, BENCHMARK; unset: BENCHMARK for a
disaggregated config, as in TensorRT-LLM, or a worker of
an aggregated job) and coordinates with the other roles through files in the
shared workspace, but every wait is bounded and nothing needs a GPU.

What each task does:

1. EXAMPLE_CRASH_ROLE=<role> (optionally EXAMPLE_CRASH_RANK=<rank>): that task
   dies at once with os._exit(3), leaving no junit file.
2. It writes what it saw to $NODERUN_WORKSPACE/test_output/<role>.<rank>.json:
   role, rank, node (SLURMD_NODENAME, or NODERUN_NODE where Slurm's variables
   were stripped), CUDA_VISIBLE_DEVICES, NVIDIA_VISIBLE_DEVICES, and any
   broken promise of the env contract.
3. Workers and DISAGG_SERVER write a ready file and wait for the benchmark's
   done file.  BENCHMARK waits for the ready file of every worker and server
   task listed in $NODERUN_WORKSPACE/job.json, "runs" (0.2 s, or EXAMPLE_SLEEP
   seconds), writes the done file.  In an aggregated job, rank 0 is the one
   that runs and writes done.
4. The env contract is asserted (after the coordination, so one broken task
   does not leave the others waiting):
   - DISAGG_SERVER and BENCHMARK see no PMI*, PMIX*, MPI*, OMPI*, SLURM*
     variable except SLURM_PROCID;
   - workers see SLURM_PROCID;
   - every NAME=value of the config's *_env_var entries for the role arrives
     with its literal value (e.g. EXAMPLE_LITERAL is the text $HOME;`x`).
5. EXAMPLE_FAIL_BENCHMARK=1: the deciding task (BENCHMARK, or aggregated rank
   0) fails after writing done.

Waits give up after EXAMPLE_WAIT_TIMEOUT seconds (default 60) plus
EXAMPLE_SLEEP.  A workspace serves one run: stale ready/done files from an
earlier run in the same workspace would be taken as this run's.
"""

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import example_configs  # noqa: E402

LEAK_PREFIXES = ("PMI", "PMIX", "MPI", "OMPI", "SLURM")
SERVER_ROLES = ("DISAGG_SERVER", "BENCHMARK")
POLL_S = 0.05


def _workspace():
    return Path(os.environ.get("NODERUN_WORKSPACE") or os.getcwd())


def _role(aggregated):
    """The task's role. Unset DISAGG_SERVING_TYPE means an aggregated worker,
    or BENCHMARK for a disaggregated config (TensorRT-LLM's default)."""
    serving = os.environ.get("DISAGG_SERVING_TYPE")
    if serving:
        return serving
    if aggregated:
        return os.environ.get("NODERUN_ROLE") or "WORKER"
    return "BENCHMARK"


def _rank():
    return int(os.environ.get("NODERUN_RANK") or os.environ.get("SLURM_PROCID") or 0)


def _float_env(name, default):
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _wait_for(paths, timeout_s, what):
    """Wait until every path exists; return the missing ones on timeout."""
    deadline = time.monotonic() + timeout_s
    missing = list(paths)
    while missing:
        missing = [p for p in missing if not p.exists()]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    return missing


def _job_spec(ws):
    try:
        with open(ws / "job.json", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _config(test_id, spec):
    """(config path, server name or None): from job.json when noderun wrote
    one, else from the test id as TensorRT-LLM's test does."""
    job = (spec or {}).get("job") or {}
    if job.get("config_file"):
        return job["config_file"], job.get("server_name") or None
    return example_configs.find(test_id)


def _config_expectations(path, server, role, aggregated, spec):
    """(expected NAME -> value, where the expectation came from)."""
    cfg = example_configs.load(path)
    if cfg is not None:
        if aggregated and server is None:
            raise LookupError(f"aggregated config {path} but no server name")
        return example_configs.expected_env(cfg, role, server if aggregated else None), f"config {path}"
    # No PyYAML: fall back to what noderun planned for the role.
    for step in (spec or {}).get("steps") or []:
        if step.get("role") == role:
            env = {e["name"]: e["value"] for e in step["command"].get("env") or []}
            env.pop("DISAGG_SERVING_TYPE", None)
            return env, "job.json (PyYAML missing)"
    return {}, "none (no PyYAML, no job.json)"


def _contract_violations(role, aggregated, expected):
    bad = []
    if role in SERVER_ROLES:
        leaked = sorted(k for k in os.environ if k.startswith(LEAK_PREFIXES) and k != "SLURM_PROCID")
        if leaked:
            bad.append(f"{role} must not see MPI/PMI/Slurm variables, got {leaked}")
    elif "SLURM_PROCID" not in os.environ:
        bad.append(f"{role} worker has no SLURM_PROCID")
    if aggregated and "DISAGG_SERVING_TYPE" in os.environ:
        bad.append("aggregated worker sees DISAGG_SERVING_TYPE")
    if not aggregated and os.environ.get("NODERUN_ROLE") and not os.environ.get("DISAGG_SERVING_TYPE"):
        bad.append(f"disaggregated role {os.environ['NODERUN_ROLE']} has no DISAGG_SERVING_TYPE")
    for name, value in sorted(expected.items()):
        got = os.environ.get(name)
        if got != value:
            bad.append(f"{name}: want the literal {value!r} from the config, got {got!r}")
    return bad


def test_e2e(test_id):
    if not any(os.environ.get(v) for v in ("NODERUN_WORKSPACE", "DISAGG_SERVING_TYPE", "SLURM_PROCID")):
        pytest.skip("runs as a task of a noderun job (no NODERUN_WORKSPACE, DISAGG_SERVING_TYPE or SLURM_PROCID here)")
    ws = _workspace()
    spec = _job_spec(ws)
    path, server = _config(test_id, spec)
    aggregated = example_configs.is_aggregated(path)
    role = _role(aggregated)
    rank = _rank()
    crash = os.environ.get("EXAMPLE_CRASH_ROLE")
    if crash == role and os.environ.get("EXAMPLE_CRASH_RANK", str(rank)) == str(rank):
        os._exit(3)  # a crashed rank: no junit, no output

    out = ws / "test_output"
    sync = out / "sync"
    expected, source = _config_expectations(path, server, role, aggregated, spec)
    violations = _contract_violations(role, aggregated, expected)
    seen = {
        "test_id": test_id,
        "config": str(path),
        "server": server,
        "role": role,
        "rank": rank,
        "aggregated": aggregated,
        "node": os.environ.get("SLURMD_NODENAME") or os.environ.get("NODERUN_NODE"),
        "SLURMD_NODENAME": os.environ.get("SLURMD_NODENAME"),
        "NODERUN_NODE": os.environ.get("NODERUN_NODE"),
        "SLURM_PROCID": os.environ.get("SLURM_PROCID"),
        "SLURM_LOCALID": os.environ.get("SLURM_LOCALID"),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "NVIDIA_VISIBLE_DEVICES": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "expected_env_source": source,
        "expected_env": expected,
        "violations": violations,
    }
    _write_json(out / f"{role}.{rank}.json", seen)

    sleep_s = _float_env("EXAMPLE_SLEEP", 0.2)
    wait_s = _float_env("EXAMPLE_WAIT_TIMEOUT", 60.0) + sleep_s
    done = sync / "benchmark.done"
    deciding = role == "BENCHMARK" or (aggregated and rank == 0)

    if deciding:
        ready = []
        for step in (spec or {}).get("steps") or []:
            if step.get("kind") in ("worker", "server") and step.get("role") != role:
                ready += [sync / "ready" / f"{step['role']}.{r}" for r in range(step["tasks"])]
        missing = _wait_for(ready, wait_s, "ready")
        assert not missing, f"{role}: these tasks never got ready within {wait_s:.0f}s: {[p.name for p in missing]}"
        time.sleep(sleep_s)  # the "benchmark"
        _write_json(done, {"role": role, "rank": rank, "time": time.time()})
    else:
        (sync / "ready").mkdir(parents=True, exist_ok=True)
        (sync / "ready" / f"{role}.{rank}").write_text(str(os.getpid()), encoding="utf-8")
        missing = _wait_for([done], wait_s, "done")
        assert not missing, f"{role} rank {rank}: the benchmark did not finish within {wait_s:.0f}s"

    assert not violations, "env contract broken:\n" + "\n".join(violations)
    if deciding:
        assert os.environ.get("EXAMPLE_FAIL_BENCHMARK") != "1", "benchmark failed on purpose (EXAMPLE_FAIL_BENCHMARK=1)"


# Small extra cases, so a full run of this module has more than one result.
# noderun selects only test_e2e[<id>], so these run when a person runs pytest here.


def test_env_words_are_literal():
    got = example_configs.env_words("A=\"hello world\" B='$HOME;`x`' C=1")
    assert got == {"A": "hello world", "B": "$HOME;`x`", "C": "1"}


@pytest.mark.skip(reason="example of a skipped case: needs a real GPU")
def test_needs_gpu():
    raise AssertionError("never runs")
