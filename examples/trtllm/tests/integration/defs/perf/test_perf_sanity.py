"""Stand-in for TensorRT-LLM's perf/test_perf_sanity.py::test_e2e.

Parametrized like the real test from the config folders
(tests/scripts/perf-sanity/{aggregated,disaggregated}/*.yaml under LLM_ROOT,
else this checkout): aggr[_upload]-<cfg>[-<server>],
aggr[_upload]-ctx_only-<cfg>, disagg[_upload]-{e2e,gen_only}-<cfg>.  Like the
real one it builds TOD = <output_dir>/<id> while it reads its config, so it
crashes when --output-dir is missing; it learns its role from
DISAGG_SERVING_TYPE (default BENCHMARK; aggregated: the worker) and the roles
meet through files in TOD the way the real ones do:

* GEN_i/CTX_i write TOD/hostnames-<SLURM_JOB_ID or "local">-0/<role>.txt
  (GEN_0/CTX_0 first write their extra-llm-api-config; the others wait for
  it), serve until TOD/benchmark_status.0.txt says Done; GEN_i prints
  per-iteration lines (prev_device_step_time) to its step's output;
* DISAGG_SERVER waits until every GEN/CTX wrote its hostname file, writes
  TOD/server_config.0.yaml and publishes DISAGG_SERVER.0.addr in the
  hostnames folder, serves until Done;
* BENCHMARK waits for that address, "runs" (EXAMPLE_SLEEP seconds), writes
  Done; in gen_only it then waits up to 120 s for every
  TOD/gen_server_<i>.done and parses TOD/gen_server_<i>.log, both written by
  the runner;
* an aggregated worker (rank 0 under the launcher) runs each selected server
  and its clients itself.

Every process checks, from its own point of view, the clauses of the
contract it can observe (standin_contract.py), writes what it saw to
WS/test_output/<role>.<rank>.json and fails with the list of broken clauses.
The deciding role (BENCHMARK; aggregated: the worker) also checks the other
roles' records and every launched task's launcher record.  A role that gives
up writes TOD/example_abort.json so that no other role waits for it.

Switches: EXAMPLE_FAIL_BENCHMARK=1 (the deciding role fails after the run),
EXAMPLE_CRASH_ROLE=<role> [EXAMPLE_CRASH_RANK=k] (os._exit(3) at start, no
junit), EXAMPLE_SLEEP=S (the benchmark runs S seconds), EXAMPLE_WAIT_TIMEOUT=S
(bound of every wait, default 60, plus EXAMPLE_SLEEP), EXAMPLE_EXPECT_CI_ENV
(comma-separated NAME or NAME=VALUE that must arrive unchanged).
"""

import fcntl
import os
import re
import secrets
import socket
import time
from pathlib import Path

import pytest
import standin_contract as contract
import yaml

PERF_SANITY_TEST_CASES = contract.test_cases()
GEN_LOG_SENTINEL_TIMEOUT = 120
DEVICE_STEP_RE = re.compile(r"iter\s*=\s*(\d+),.*?prev_device_step_time\s*=\s*([\d.]+)\s*ms")
ITER_EVERY_S = 0.25


def _float_env(name, default):
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _emit(line):
    """Print to the step's own output, past pytest's capture (the runner logs it)."""
    capman = contract.CONFIG.pluginmanager.getplugin("capturemanager") if contract.CONFIG else None
    if capman is None:
        print(line, flush=True)
        return
    with capman.global_and_fixture_disabled():
        print(line, flush=True)


def _write(path, text):
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Run:
    """One test_e2e process: its id, config, role and TOD."""

    def __init__(self, test_id, output_dir):
        self.test_id = test_id
        self.plan = contract.plan_for(test_id)
        # As in TensorRT-LLM: TOD comes from --output-dir while the config is read.
        self.tod = Path(os.path.join(output_dir, test_id))
        self.tod.mkdir(parents=True, exist_ok=True)
        self.ws = contract.workspace(output_dir)
        self.role = contract.role_of(self.plan)
        self.rank = contract.rank_of()
        self.sleep_s = _float_env("EXAMPLE_SLEEP", 0.2)
        self.wait_s = _float_env("EXAMPLE_WAIT_TIMEOUT", 60.0) + self.sleep_s
        self.status_file = self.tod / "benchmark_status.0.txt"
        self.hostnames = self.tod / f"hostnames-{os.environ.get('SLURM_JOB_ID', 'local')}-0"
        self.record = {}

    # ------------------------------------------------------------ contract

    def crash_if_asked(self):
        if os.environ.get("EXAMPLE_CRASH_ROLE") == self.role and os.environ.get("EXAMPLE_CRASH_RANK", str(self.rank)) == str(self.rank):
            # A crashed rank leaves no junit and no record; the note in TOD only
            # spares the other roles their full wait.
            contract.abort(self.tod, self.role, f"rank {self.rank} crashed on purpose (EXAMPLE_CRASH_ROLE)")
            os._exit(3)

    def check(self):
        """Write what this process saw; stop at once when a clause is broken."""
        violations = contract.check_argv(contract.CONFIG, self.role, self.plan.deciding(self.role), self.test_id)
        violations += contract.check_env(self.plan, self.role, self.rank, self.ws)
        env = os.environ
        self.record = {
            "test_id": self.test_id,
            "config": str(self.plan.config_path),
            "runtime": self.plan.runtime,
            "mode": self.plan.mode,
            "role": self.role,
            "rank": self.rank,
            "node": contract.node_name(),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "multi_node": self.plan.multi_node,
            "total_nodes": self.plan.total_nodes,
            "step_tasks": self.plan.step_tasks(self.role),
            "launcher_expected": self.plan.launched(self.role),
            "under_launcher": contract.under_launcher(),
            "SLURMD_NODENAME": env.get("SLURMD_NODENAME"),
            "NODERUN_NODE": env.get("NODERUN_NODE"),
            "SLURM_PROCID": env.get("SLURM_PROCID"),
            "SLURM_LOCALID": env.get("SLURM_LOCALID"),
            "CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES"),
            "NVIDIA_VISIBLE_DEVICES": env.get("NVIDIA_VISIBLE_DEVICES"),
            "env": contract.seen_env(),
            "ci_env": contract.ci_env_view(),
            "expected_env": self.plan.config_env(self.role),
            "argv": list(contract.CONFIG.invocation_params.args),
            "cwd": str(contract.CONFIG.invocation_params.dir),
            "violations": violations,
            "cross_violations": [],
            "time": time.time(),
        }
        self.save()
        if violations:
            self.give_up("contract broken:\n" + "\n".join(violations))

    def save(self):
        if self.ws:
            contract.write_json(contract.record_path(self.ws, self.role, self.rank), self.record)

    def give_up(self, reason):
        contract.abort(self.tod, self.role, reason)
        if self.role == "BENCHMARK":
            _write(self.status_file, "Done")
        pytest.fail(f"{self.role} rank {self.rank}: {reason}", pytrace=False)

    def wait(self, ready, what, tick=None):
        try:
            got = contract.wait_for(ready, self.wait_s, self.tod, tick)
        except contract.Aborted as e:
            if self.plan.deciding(self.role):
                raise
            pytest.skip(f"{self.role}: stopped waiting for {what}: {e}")
        if not got:
            self.give_up(f"{what} did not happen within {self.wait_s:.0f}s")
        return got

    # ------------------------------------------------------------ disaggregated

    def auth_key(self):
        """One key for all roles, created under a lock (TensorRT-LLM does the same)."""
        path = self.tod / "internal_request_auth_key.txt"
        with open(f"{path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if path.exists() and path.read_text().strip():
                    return path.read_text().strip()
                key = secrets.token_hex(32)
                path.write_text(key + "\n")
                return key
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def run_worker(self):
        kind = "gen" if self.role.startswith("GEN_") else "ctx"
        config_file = self.tod / f"extra-llm-api-config.{kind}.{self.plan.name}.yml"
        if self.role.endswith("_0"):
            _write(config_file, yaml.safe_dump((self.plan.cfg.get("worker_config") or {}).get(kind) or {}))
        else:
            self.wait(config_file.exists, f"{config_file.name} from {kind.upper()}_0")
        self.hostnames.mkdir(parents=True, exist_ok=True)
        port = 18000 + (os.getpid() % 10000)
        _write(self.hostnames / f"{self.role}.txt", f"{socket.gethostname()}:{port}\n")
        if kind == "gen" and not self.plan.launched(self.role):
            _emit(f"[example] pytest of {self.role} rank {self.rank} serving")

        state = {"iter": 5, "last": 0.0}

        def iteration():
            now = time.monotonic()
            if kind == "gen" and now - state["last"] >= ITER_EVERY_S:
                _emit(
                    f"[TRT-LLM] [I] [example][RANK {self.rank}] iter = {state['iter']}, global_rank = {self.rank}, "
                    f"host_step_time = 1.10ms, prev_device_step_time = 2.50ms, states = {{'num_generation_tokens': 1}}"
                )
                state["iter"] += 1
                state["last"] = now

        self.wait(self.status_file.exists, "benchmark_status.0.txt (Done)", tick=iteration)
        state["last"] = 0.0
        iteration()

    def run_disagg_server(self):
        addr = self.hostnames / "DISAGG_SERVER.0.addr"
        if addr.exists():
            addr.unlink()
        expected = self.plan.num_ctx + self.plan.num_gen

        def hostname_files():
            files = sorted(p for p in self.hostnames.glob("*.txt")) if self.hostnames.is_dir() else []
            if len(files) >= expected:
                return files
            elsewhere = sorted(
                str(p.relative_to(self.tod)) for p in self.tod.glob("hostnames-*-0/*.txt") if p.parent != self.hostnames
            )
            if elsewhere:
                self.give_up(
                    f"§4 the roles disagree on SLURM_JOB_ID: this one waits in {self.hostnames.name}/, "
                    f"others wrote {elsewhere} (no pytest process may see SLURM_JOB_ID)"
                )
            return None

        files = self.wait(hostname_files, f"{expected} hostname files in {self.hostnames.name}/")
        urls = {p.stem: p.read_text().strip() for p in files}
        server_config = {
            "hostname": socket.gethostname(),
            "port": 0,
            "backend": "pytorch",
            "internal_request_auth_key": self.auth_key(),
            "context_servers": {"num_instances": self.plan.num_ctx, "urls": [u for r, u in sorted(urls.items()) if r.startswith("CTX")]},
            "generation_servers": {"num_instances": self.plan.num_gen, "urls": [u for r, u in sorted(urls.items()) if r.startswith("GEN")]},
        }
        _write(self.tod / "server_config.0.yaml", yaml.safe_dump(server_config))
        _write(addr, f"{socket.gethostname()}:{18000 + (os.getpid() % 10000)}\n")
        self.wait(self.status_file.exists, "benchmark_status.0.txt (Done)")

    def run_benchmark(self):
        problems = []
        addr = self.hostnames / "DISAGG_SERVER.0.addr"

        def published():
            if addr.exists():
                return True
            elsewhere = [p for p in self.tod.glob("hostnames-*-0/DISAGG_SERVER.0.addr") if p.parent != self.hostnames]
            if elsewhere:
                raise contract.Aborted(
                    f"§4 the roles disagree on SLURM_JOB_ID: BENCHMARK waits in {self.hostnames.name}/, "
                    f"the server published {elsewhere[0].relative_to(self.tod)}"
                )
            return False

        try:
            if contract.wait_for(published, self.wait_s, self.tod):
                time.sleep(self.sleep_s)  # the "benchmark"
                _write(self.tod / "trtllm-benchmark.0.0.log", "Request throughput (req/s): 1.00\nFailed requests: 0\n")
            else:
                problems.append(f"DISAGG_SERVER did not publish {addr.relative_to(self.tod)} within {self.wait_s:.0f}s")
        except contract.Aborted as e:
            problems.append(str(e))
        finally:
            _write(self.status_file, "Done")
        if not problems:
            if self.plan.mode == "gen_only":
                problems += self.check_gen_logs()
            problems += self.check_role_logs()
        return problems

    def check_role_logs(self):
        """§5: the runner writes each worker step's output to TOD (GEN_i, CTX_i, the server)."""
        names = [f"gen_server_{i}.log" for i in range(self.plan.num_gen)]
        names += [f"ctx_server_{i}.log" for i in range(self.plan.num_ctx)] + ["disagg_server.log"]
        return [f"§5 the runner did not write TOD/{n}" for n in names if not (self.tod / n).is_file()]

    def check_gen_logs(self):
        """§5 gen_only: wait for TOD/gen_server_<i>.done, then parse TOD/gen_server_<i>.log."""
        problems = []
        done = [self.tod / f"gen_server_{i}.done" for i in range(self.plan.num_gen)]
        if not contract.wait_for(lambda: all(p.exists() for p in done), min(GEN_LOG_SENTINEL_TIMEOUT, self.wait_s)):
            missing = [p.name for p in done if not p.exists()]
            problems.append(f"§5 the runner did not touch {missing} after the GEN step ended")
        times = []
        for i in range(self.plan.num_gen):
            log = self.tod / f"gen_server_{i}.log"
            text = log.read_text(errors="replace") if log.is_file() else ""
            if not text:
                problems.append(f"§5 TOD/{log.name} is missing or empty: the runner writes all output of step GEN_{i} there")
                continue
            times += [float(m.group(2)) for m in DEVICE_STEP_RE.finditer(text) if int(m.group(1)) >= 5]
            role = f"GEN_{i}"
            if self.plan.launched(role):
                marks = {f"mpi_rank: {r}" for r in range(self.plan.gen_tasks)}
            else:
                marks = {f"pytest of {role} rank {r} serving" for r in range(self.plan.gen_tasks)}
            missing = sorted(m for m in marks if m not in text)
            if missing:
                problems.append(f"§5 TOD/{log.name} lacks the output of some ranks of {role}: {missing}")
        if not times:
            problems.append("§5 gen_only: no prev_device_step_time in TOD/gen_server_*.log")
        else:
            with open(self.tod / "trtllm-benchmark.0.0.log", "a") as f:
                f.write(f"\nAverage Per Iter Device Step Time (ms): {sum(times) / len(times):.2f}\n")
        return problems

    # ------------------------------------------------------------ aggregated

    def run_aggregated(self):
        servers = self.plan.servers or [{"name": self.plan.name, "env": ""}]
        for idx, server in enumerate(servers):
            _write(self.tod / f"extra-llm-api-config.aggr.{server['name']}.yml", yaml.safe_dump({"name": server["name"]}))
            _write(self.tod / f"trtllm-serve.{idx}.addr", f"localhost:{18000 + idx}\n")
            _write(self.tod / f"trtllm-serve.{idx}.log", f"[example] server {server['name']} up\n")
            time.sleep(self.sleep_s)  # the clients
            _write(self.tod / f"trtllm-benchmark.{idx}.0.log", "Request throughput (req/s): 1.00\nFailed requests: 0\n")
        return []

    # ------------------------------------------------------------ the verdict

    def finish(self, problems):
        if self.plan.deciding(self.role) and self.rank == 0:
            wait_s = 0 if problems else self.wait_s  # after a failure, report what is there
            problems += contract.check_launcher_records(self.plan, self.ws, wait_s)
            if self.plan.disaggregated:
                problems += contract.check_peer_records(self.plan, self.ws, self.record, wait_s)
                dirs = sorted(p.name for p in self.tod.glob("hostnames-*-0"))
                if len(dirs) > 1:
                    problems.append(f"§4 the roles used several hostnames folders {dirs}: they disagree on SLURM_JOB_ID")
            self.record["cross_violations"] = problems
            self.save()
        if problems:
            self.give_up("\n".join(problems))
        if self.plan.deciding(self.role) and self.rank == 0 and os.environ.get("EXAMPLE_FAIL_BENCHMARK") == "1":
            pytest.fail("benchmark failed on purpose (EXAMPLE_FAIL_BENCHMARK=1)", pytrace=False)


@pytest.mark.parametrize("perf_sanity_test_case", PERF_SANITY_TEST_CASES)
def test_e2e(output_dir, perf_sanity_test_case):
    run = Run(perf_sanity_test_case, output_dir)
    run.crash_if_asked()
    run.check()
    if run.plan.disaggregated:
        run.auth_key()
    if not run.plan.disaggregated:
        problems = run.run_aggregated()
    elif run.role == "BENCHMARK":
        problems = run.run_benchmark()
    elif run.role == "DISAGG_SERVER":
        run.run_disagg_server()
        problems = []
    else:
        run.run_worker()
        problems = []
    run.finish(problems)
