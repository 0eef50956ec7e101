"""Whole role sets started by hand with exactly the contract: they pass; with
one clause broken, the job fails fast and names the clause."""

import pytest
from harness import STAGE, Job, Step, disagg_steps

DISAGG = "disaggregated/disagg-tiny.yaml"
E2E = "disagg_upload-e2e-disagg-tiny"
GEN_ONLY = "disagg-gen_only-disagg-tiny"


def disagg_job(tmp_path, test_id=E2E, steps=None):
    mode = "gen_only" if "-gen_only-" in test_id else "e2e"
    return Job(tmp_path, test_id, steps or disagg_steps(), DISAGG, 2, mode=mode)


def step_of(role):
    return next(s for s in disagg_steps() if s.role == role)


def assert_clean(job, result):
    for role in result.codes:
        assert result.ok(role), f"{role}: {job.violations(role)}\n" + job.log("BENCHMARK.log")[-3000:]
        assert job.violations(role) == [], role


def test_disagg_e2e_passes_with_the_contract(tmp_path):
    job = disagg_job(tmp_path)
    result = job.run()
    assert_clean(job, result)
    assert result.codes["GEN_0"] == [0, 0]
    assert {job.launcher_record("GEN_0", r)["rank"] for r in (0, 1)} == {0, 1}
    assert job.record("GEN_0")["under_launcher"] and not job.record("BENCHMARK")["under_launcher"]
    assert (job.tod / "hostnames-local-0" / "DISAGG_SERVER.0.addr").exists()
    assert (job.ws / "results.xml").exists() and STAGE in (job.ws / "report.csv").read_text()
    assert not (job.ws / "test_output" / "GEN_0.1.json").exists(), "pytest runs on rank 0 only"


def test_disagg_gen_only_passes_and_parses_the_gen_log(tmp_path):
    job = disagg_job(tmp_path, GEN_ONLY)
    result = job.run()
    assert_clean(job, result)
    assert "Average Per Iter Device Step Time (ms): 2.50" in job.log("trtllm-benchmark.0.0.log")
    assert job.record("GEN_0")["env"]["TLLM_BENCHMARK_REQ_QUEUES_SIZE"] == "1"


def test_aggregated_two_nodes_passes_under_the_launcher(tmp_path):
    job = Job(tmp_path, "aggr_upload-agg_2nodes-tiny_tp4", [Step("WORKER", 0, [2, 2], True)], "aggregated/agg_2nodes.yaml", 2, server="tiny_tp4")
    result = job.run()
    assert_clean(job, result)
    assert result.codes["WORKER"] == [0, 0, 0, 0]
    assert [job.launcher_record("WORKER", r)["kept_env"]["SLURM_NODEID"] for r in range(4)] == ["0", "0", "1", "1"]


def test_one_node_aggregated_job_passes_without_the_launcher(tmp_path):
    job = Job(tmp_path, "aggr-ctx_only-disagg-tiny", [Step("WORKER", 0, [1], False)], DISAGG, 1, mode="ctx_only")
    assert_clean(job, job.run())


def test_slurm_job_id_seen_by_disagg_server_fails_the_job_fast(tmp_path):
    def leak(step, rank, argv, env):
        if step.role == "DISAGG_SERVER":
            env["SLURM_JOB_ID"] = "4242"

    job = disagg_job(tmp_path).tweak(leak)
    result = job.run()
    assert not result.ok("DISAGG_SERVER") and not result.ok("BENCHMARK")
    assert any("SLURM_JOB_ID" in v for v in job.violations("DISAGG_SERVER"))
    assert result.seconds < 30, "a broken clause must not leave the roles waiting"
    assert "SLURM_JOB_ID" in job.log("BENCHMARK.log")


def test_csv_given_to_gen0_fails_the_job_with_the_clause(tmp_path):
    def csv(step, rank, argv, env):
        if step.role == "GEN_0":
            argv.insert(argv.index("-o"), f"--csv={job.ws}/report.csv")

    job = disagg_job(tmp_path)
    job.tweak(csv)
    result = job.run()
    assert not result.ok("GEN_0") and not result.ok("BENCHMARK")
    assert any("--csv" in v for v in job.violations("GEN_0"))
    assert "--csv" in job.log("BENCHMARK.log")


def test_gen_only_without_the_runners_done_sentinel_fails(tmp_path):
    job = disagg_job(tmp_path, GEN_ONLY)
    job.touch_done = False
    job.base_env["EXAMPLE_WAIT_TIMEOUT"] = "5"
    result = job.run()
    assert not result.ok("BENCHMARK")
    assert "gen_server_0.done" in job.log("BENCHMARK.log")


def unlaunch(step, rank, argv, env):
    """The runner forgot the launcher (and so stripped the env as for one node)."""
    if step.role == "GEN_0":
        del argv[0]
        for name in [k for k in env if k.startswith(("SLURM_", "PMI")) and k != "SLURM_PROCID"]:
            del env[name]


def set_env(role, name, value):
    def fn(step, rank, argv, env):
        if step.role == role:
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value

    return fn


def set_arg(role, old, new):
    def fn(step, rank, argv, env):
        if step.role == role:
            argv[:] = [new if a == old else a for a in argv]

    return fn


def add_arg(role, arg):
    def fn(step, rank, argv, env):
        if step.role == role:
            argv.append(arg)

    return fn


def launch(role):
    def fn(step, rank, argv, env):
        if step.role == role:
            from harness import LAUNCHER

            argv.insert(0, str(LAUNCHER))

    return fn


# One role alone, one clause broken: it fails at once and says which clause.
SINGLE = [
    ("GEN_0", E2E, unlaunch, "must run under trtllm-llmapi-launch"),
    ("DISAGG_SERVER", E2E, launch("DISAGG_SERVER"), "never run under the launcher"),
    ("CTX_0", E2E, set_env("CTX_0", "HF_HOME", None), "HF_HOME"),
    ("CTX_0", E2E, set_env("CTX_0", "FLASHINFER_JIT_DIR", "/tmp/flashinfer_jit_cache"), "FLASHINFER_JIT_DIR"),
    ("CTX_0", E2E, set_env("CTX_0", "EXAMPLE_LITERAL", "/root;x"), "EXAMPLE_LITERAL"),
    ("GEN_0", E2E, set_env("GEN_0", "NVIDIA_VISIBLE_DEVICES", "none"), "NVIDIA_VISIBLE_DEVICES"),
    ("GEN_0", GEN_ONLY, set_env("GEN_0", "TLLM_BENCHMARK_REQ_QUEUES_SIZE", None), "TLLM_BENCHMARK_REQ_QUEUES_SIZE"),
    ("DISAGG_SERVER", E2E, set_env("DISAGG_SERVER", "SLURM_NTASKS", "1"), "SLURM_NTASKS"),
    ("DISAGG_SERVER", E2E, add_arg("DISAGG_SERVER", "--periodic-junit"), "--periodic-junit"),
    ("BENCHMARK", E2E, set_env("BENCHMARK", "HF_TOKEN", None), "HF_TOKEN"),
    ("BENCHMARK", E2E, set_env("BENCHMARK", "TRTLLM_TIMEOUT_DATA_FILE", "/tmp/timeout.jsonl"), "TRTLLM_TIMEOUT_DATA_FILE"),
    ("BENCHMARK", E2E, set_arg("BENCHMARK", f"--test-prefix={STAGE}", "--test-prefix=other"), "--test-prefix"),
    ("BENCHMARK", E2E, set_env("BENCHMARK", "DISAGG_SERVING_TYPE", None), "DISAGG_SERVING_TYPE"),
    ("CTX_0", E2E, add_arg("CTX_0", f"perf/test_perf_sanity.py::test_e2e[{E2E}]"), "no test node id"),
]


@pytest.mark.parametrize("role,test_id,tweak,clause", SINGLE, ids=[f"{r}-{c}" for r, _, _, c in SINGLE])
def test_one_broken_clause_fails_its_role(tmp_path, role, test_id, tweak, clause):
    job = disagg_job(tmp_path, test_id, steps=[step_of(role)]).tweak(tweak)
    result = job.run(timeout=30)
    assert not result.ok(role)
    assert result.seconds < 20, "a role that breaks a clause stops at once"
    rank0 = job.record(role) or {}
    assert any(clause in v for v in rank0.get("violations") or []), rank0.get("violations")


def test_crash_switch_kills_the_role_and_the_job_fails_fast(tmp_path):
    job = disagg_job(tmp_path)
    job.base_env["EXAMPLE_CRASH_ROLE"] = "CTX_0"
    result = job.run()
    assert result.codes["CTX_0"] == [3] and job.record("CTX_0") is None
    assert not result.ok("BENCHMARK") and result.ok("GEN_0")
    assert result.seconds < 30


def test_fail_benchmark_switch_fails_only_the_deciding_role(tmp_path):
    job = disagg_job(tmp_path)
    job.base_env["EXAMPLE_FAIL_BENCHMARK"] = "1"
    result = job.run()
    assert not result.ok("BENCHMARK")
    assert all(result.ok(role) for role in ("GEN_0", "CTX_0", "DISAGG_SERVER"))
    assert "EXAMPLE_FAIL_BENCHMARK" in job.log("BENCHMARK.log")
