"""The conftest stand-in: TensorRT-LLM's options and what they do."""

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest
from harness import DEFS, PYTEST, STAGE, Job, Step

CTX_ONLY = "aggr-ctx_only-disagg-tiny"  # a one-node aggregated job: one task, no launcher


def ctx_only_job(tmp_path):
    return Job(tmp_path, CTX_ONLY, [Step("WORKER", 0, [1], False)], "disaggregated/disagg-tiny.yaml", 1, mode="ctx_only")


def collect(*args, env=None):
    proc = subprocess.run(PYTEST + ["--collect-only", "-q", *args], cwd=DEFS, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], **(env or {})})
    return proc, [line for line in proc.stdout.splitlines() if "::" in line]


def test_options_names_and_aliases():
    proc = subprocess.run(PYTEST + ["--help"], cwd=DEFS, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name in ["--test-list", "-F", "--waives-file", "-S", "--output-dir", "-O", "--test-prefix", "-P",
                 "--apply-test-list-correction", "-C", "--periodic-junit", "--periodic-junit-xmlpath",
                 "--periodic-batch-size", "--periodic-save-unfinished-test", "--periodic-hang-traceback",
                 "--unittest-markexpr", "--csv", "--timeout", "--timeout-method", "--splitting-algorithm",
                 "--splits", "--group", "--cov", "--cov-report", "--cov-config"]:
        assert f" {name}" in proc.stdout, name


def test_test_list_and_splits_select_and_prefix(tmp_path):
    ids = ["aggr-agg_2nodes", "disagg-e2e-disagg-tiny", CTX_ONLY]  # collection order
    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"perf/test_perf_sanity.py::test_e2e[{i}]\n" for i in reversed(ids)))
    groups = []
    for group in ("1", "2"):
        proc, got = collect(f"--test-list={listed}", "--splitting-algorithm", "least_duration", "--splits", "2",
                            "--group", group, "-P", "STAGE-X")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        groups.append(got)
    want = [f"STAGE-X/perf/test_perf_sanity.py::test_e2e[{i}]" for i in ids]
    assert groups == [[want[0], want[2]], [want[1]]]


def test_without_output_dir_the_test_crashes_while_reading_its_config(tmp_path):
    job = ctx_only_job(tmp_path).tweak(lambda step, rank, argv, env: argv.remove(f"--output-dir={job.ws}/"))
    result = job.run()
    assert result.codes["WORKER"] == [1]
    assert "TypeError" in job.log("WORKER.log")


def test_missing_waives_file_stops_pytest_and_is_recorded(tmp_path):
    job = ctx_only_job(tmp_path)
    (job.ws / "waives.txt").unlink()
    assert job.run().codes["WORKER"] == [4]
    assert any("waives" in v for v in job.violations("WORKER"))


def test_a_test_list_without_the_id_runs_nothing_and_is_recorded(tmp_path):
    job = ctx_only_job(tmp_path)
    job.test_list.write_text("perf/test_perf_sanity.py::test_e2e[aggr-ctx_only-nosuchconfig]\n")
    assert job.run().codes["WORKER"] == [5]
    assert any("selects no collected test" in v for v in job.violations("WORKER"))


def test_waived_test_is_skipped_and_junit_and_csv_are_written(tmp_path):
    job = ctx_only_job(tmp_path)
    (job.ws / "waives.txt").write_text(f"perf/test_perf_sanity.py::test_e2e[{CTX_ONLY}] SKIP (example waiver)\n")
    assert job.run().codes["WORKER"] == [0]
    suite = ET.parse(job.ws / "results.xml").getroot().find("testsuite")
    assert suite.get("skipped") == "1"
    case = suite.find("testcase")
    assert case.get("classname").startswith(f"{STAGE}.perf.test_perf_sanity")
    assert "skipped" in (job.ws / "report.csv").read_text()


def test_timeout_ends_a_test_that_runs_too_long(tmp_path):
    job = ctx_only_job(tmp_path)
    job.base_env["EXAMPLE_SLEEP"] = "60"

    def short(step, rank, argv, env):
        argv[argv.index("--timeout=3600")] = "--timeout=1"

    result = job.tweak(short).run(timeout=30)
    assert result.codes["WORKER"] == [1]
    assert result.seconds < 20
    assert "Timeout" in job.log("WORKER.log")


@pytest.mark.parametrize("broken", ["no launcher needed, but --csv missing", "ok"])
def test_the_deciding_worker_needs_the_stage_report_options(tmp_path, broken):
    job = ctx_only_job(tmp_path)
    if broken != "ok":
        job.tweak(lambda step, rank, argv, env: argv.remove(f"--csv={job.ws}/report.csv"))
    result = job.run()
    assert result.ok("WORKER") == (broken == "ok"), job.log("WORKER.log")[-2000:]
    assert bool(job.violations("WORKER")) == (broken != "ok")


def test_periodic_junit_is_written_beside_a_runner_junit(tmp_path):
    # A runner may give the deciding role its own --junit-xml too: both files get the result.
    job = ctx_only_job(tmp_path)
    job.tweak(lambda step, rank, argv, env: argv.append(f"--junit-xml={job.ws}/results/WORKER/rank0.xml"))
    assert job.run().codes["WORKER"] == [0]
    for path in (job.ws / "results.xml", job.ws / "results" / "WORKER" / "rank0.xml"):
        assert ET.parse(path).getroot().find("testsuite").get("tests") == "1", path
