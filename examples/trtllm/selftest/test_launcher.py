"""The trtllm-llmapi-launch stand-in: calling convention and rank behaviour."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from harness import LAUNCHER

PATH = os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])

# A command that writes its argv and environment to the file named first.
PROBE = "import json, os, sys; json.dump({'argv': sys.argv[2:], 'env': dict(os.environ)}, open(sys.argv[1], 'w')); sys.exit(int(os.environ.get('PROBE_EXIT', '0')))"


@pytest.fixture
def probe(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(PROBE)
    return path


def env_for(tmp_path, **extra):
    env = {"PATH": PATH, "TMPDIR": str(tmp_path), "SLURM_JOB_ID": "7", "SLURM_STEP_ID": "3", "SLURM_NTASKS": "2"}
    env.update(extra)
    return env


def test_rank0_resplits_strips_and_passes_the_status(tmp_path, probe):
    out = tmp_path / "out.json"
    env = env_for(tmp_path, SLURM_PROCID="0", PMIX_RANK="0", UCX_TLS="rc", OMPI_X="1", KEEP_ME="yes", PROBE_EXIT="7")
    # The real launcher expands "${@:1}" unquoted: "hello world" becomes two words.
    proc = subprocess.run([str(LAUNCHER), sys.executable, str(probe), str(out), "hello world", "--output-dir=" + str(tmp_path / "ws")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 7, proc.stderr
    got = json.loads(out.read_text())
    assert got["argv"] == ["hello", "world", "--output-dir=" + str(tmp_path / "ws")]
    child = got["env"]
    assert not [k for k in child if k.startswith(("SLURM_", "PMIX_", "UCX_", "OMPI_"))]
    assert child["KEEP_ME"] == "yes"
    assert child["TLLM_SPAWN_PROXY_PROCESS"] == "1" and child["tllm_mpi_size"] == "2"
    assert child["TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR"].startswith("tcp://127.0.0.1:")
    assert len(child["TLLM_SPAWN_PROXY_PROCESS_IPC_HMAC_KEY"]) == 64
    assert "mpi_rank: 0" in proc.stderr
    rec = json.loads((tmp_path / "ws/test_output/launcher/WORKER.0.json").read_text())
    assert rec["rank"] == 0 and rec["size"] == 2 and rec["kept_env"]["SLURM_STEP_ID"] == "3"


def test_globs_expand_like_bash(tmp_path, probe):
    (tmp_path / "a.txt").write_text("")
    out = tmp_path / "out.json"
    proc = subprocess.run([str(LAUNCHER), sys.executable, str(probe), str(out), "*.txt", "no*match"],
                          env=env_for(tmp_path, SLURM_PROCID="0"), cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["argv"] == ["a.txt", "no*match"]


def test_rank1_serves_until_rank0_ends(tmp_path, probe):
    ws = tmp_path / "ws"
    cmd = [str(LAUNCHER), sys.executable, str(probe), str(tmp_path / "out.json"), f"--output-dir={ws}"]
    worker = subprocess.Popen(cmd, env=env_for(tmp_path, SLURM_PROCID="1", DISAGG_SERVING_TYPE="GEN_0", PMIX_RANK="1"),
                              cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert worker.poll() is None, "rank 1 must wait for rank 0"
    assert not (tmp_path / "out.json").exists(), "rank 1 must not run the command"
    subprocess.run(cmd, env=env_for(tmp_path, SLURM_PROCID="0", DISAGG_SERVING_TYPE="GEN_0"), cwd=tmp_path, check=True, timeout=30)
    assert worker.wait(timeout=10) == 0
    rec = json.loads((ws / "test_output/launcher/GEN_0.1.json").read_text())
    assert rec["rank"] == 1 and rec["kept_env"]["SLURM_PROCID"] == "1" and rec["kept_env"]["PMIX_RANK"] == "1"
    assert "mpi_rank: 1" in worker.stderr.read()


def test_rank1_gives_up_after_its_timeout(tmp_path, probe):
    proc = subprocess.run([str(LAUNCHER), "true"], env=env_for(tmp_path, SLURM_PROCID="1", EXAMPLE_LAUNCH_TIMEOUT="0.5"),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "did not finish" in proc.stderr


def test_rank_from_ompi_and_prompt_sigterm(tmp_path, probe):
    env = {"PATH": PATH, "TMPDIR": str(tmp_path), "OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "3"}
    worker = subprocess.Popen([str(LAUNCHER), "true", f"--output-dir={tmp_path}"], env=env, stderr=subprocess.PIPE, text=True)
    path = tmp_path / "test_output/launcher/WORKER.2.json"
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(path.read_text())["size"] == 3
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=5) == 128 + signal.SIGTERM
    assert time.monotonic() - started < 2
