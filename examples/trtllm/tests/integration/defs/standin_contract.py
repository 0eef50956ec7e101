"""What every role of the stand-in test checks: TensorRT-LLM's per-role contract.

Shared by conftest.py and perf/test_perf_sanity.py.  It knows the test ids
and configs the way TensorRT-LLM's perf/test_perf_sanity.py reads them, the
pytest line, launcher and environment each role must get (the runner's side
of the contract, as TensorRT-LLM's CI scripts give it), and it
writes the records the Go tests read:

* WS/test_output/<role>.<rank>.json: one per pytest process (this module),
* WS/test_output/launcher/<role>.<rank>.json: one per launched task (the
  trtllm-llmapi-launch stand-in).

Every check returns messages that start with the contract section they
enforce ("§3 ...").  Values of secret-looking variables never get written.
"""

import hashlib
import json
import math
import os
import re
import shlex
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFS = Path(__file__).resolve().parent
SRC = DEFS.parents[2]
TEST_FILE = "perf/test_perf_sanity.py"
TEST_FUNCTION = "test_e2e"

AGG_TEST_TYPES = ["aggr_upload", "aggr"]
DISAGG_TEST_TYPES = ["disagg_upload", "disagg"]
SERVER_ROLES = ("DISAGG_SERVER", "BENCHMARK")
# What the runner strips for DISAGG_SERVER, BENCHMARK and one-node jobs
# (all of them but SLURM_PROCID) and what the launcher strips for rank 0.
RUNNER_STRIPPED = ("PMI", "PMIX", "MPI", "OMPI", "SLURM")
LAUNCHER_STRIPPED = ("OMPI_", "PMIX_", "PMI_", "SLURM_", "MPI_", "UCX_", "I_MPI_", "HYDRA_", "KMP_", "MPICH_", "MV2_", "CRAY_")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PSW|KEY|CREDENTIAL", re.I)
GEN_ONLY_VARS = ("TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP", "TLLM_BENCHMARK_REQ_QUEUES_SIZE", "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY")

# The pytest line of the contract (§3), option names in order.  The first
# group goes to every role, DECIDING_ONLY only to BENCHMARK (aggregated: the
# worker step), the rest may be present.
REFERENCE_ORDER = [
    "-vv", "--timeout-method", "--apply-test-list-correction", "--timeout", "--rootdir", "--test-prefix",
    "--waives-file", "--output-dir", "--csv", "-o", "--periodic-junit", "--periodic-junit-xmlpath",
    "--periodic-batch-size", "--periodic-save-unfinished-test", "--periodic-hang-traceback",
    "--unittest-markexpr", "--test-list", "--splitting-algorithm", "--splits", "--group",
]
DECIDING_ONLY = [
    "--csv", "--periodic-junit", "--periodic-junit-xmlpath", "--periodic-batch-size",
    "--periodic-save-unfinished-test", "--periodic-hang-traceback",
]
# Options that take their value as the next word when written without "=".
VALUE_OPTIONS = {
    "--timeout-method", "--timeout_method", "--timeout", "--rootdir", "--test-prefix", "-P", "--waives-file", "-S",
    "--output-dir", "-O", "--csv", "-o", "--override-ini", "--periodic-junit-xmlpath", "--periodic-batch-size",
    "--periodic-interval", "--unittest-markexpr", "--test-list", "-F", "--splitting-algorithm", "--splits",
    "--group", "--cov-report", "--cov-config", "--junit-xml", "--junitxml", "-p", "-m", "-k", "--regexp", "-R",
    "--workspace", "--ws", "--perf-log-formats", "--test-model-suites", "-c", "--confcutdir", "--basetemp",
}
ALIASES = {"-P": "--test-prefix", "-S": "--waives-file", "-O": "--output-dir", "-F": "--test-list",
           "-C": "--apply-test-list-correction", "--timeout_method": "--timeout-method", "--override-ini": "-o"}

POLL_S = 0.05

# Set by conftest.pytest_configure: the pytest config of this process.
CONFIG = None


# ---------------------------------------------------------------- ids, configs


def llm_root():
    """TensorRT-LLM's get_llm_root(): LLM_ROOT, else the checkout holding DEFS."""
    return os.environ.get("LLM_ROOT") or str(SRC)


def config_dir(disaggregated):
    folder = (
        os.environ.get("DISAGG_CONFIG_FOLDER", "tests/scripts/perf-sanity/disaggregated")
        if disaggregated
        else os.environ.get("AGG_CONFIG_FOLDER", "tests/scripts/perf-sanity/aggregated")
    )
    return Path(folder if os.path.isabs(folder) else os.path.join(llm_root(), folder))


def test_cases():
    """The ids test_e2e is parametrized with, built from the config folders."""
    cases = []
    for path in sorted(config_dir(False).glob("*.yaml")):
        try:
            names = [s.get("name", "") for s in (load_yaml(path).get("server_configs") or [])]
        except Exception:  # a broken config only loses its ids, as in TensorRT-LLM
            names = []
        for kind in AGG_TEST_TYPES:
            cases.append(f"{kind}-{path.stem}")
            cases += [f"{kind}-{path.stem}-{name}" for name in names]
    for stem in sorted(p.stem for p in config_dir(True).glob("*.yaml")):
        for kind in DISAGG_TEST_TYPES:
            cases += [f"{kind}-e2e-{stem}", f"{kind}-gen_only-{stem}"]
        cases += [f"{kind}-ctx_only-{stem}" for kind in AGG_TEST_TYPES]
    return cases


def parse_test_id(test_id):
    """(config base name, server names or None, runtime, benchmark mode), read
    the way TensorRT-LLM's parse_test_string reads the bracket: an aggregated
    config name is the second label only, so it cannot contain '-'."""
    labels = test_id.split("-")
    if len(labels) < 2:
        raise ValueError(f"test id [{test_id}] names no config")
    prefix = labels[0]
    if "disagg" in prefix:
        if len(labels) < 3 or labels[1] not in ("e2e", "gen_only"):
            raise ValueError(f"test id [{test_id}]: a disaggregated id is <prefix>-{{e2e|gen_only}}-<config>")
        return "-".join(labels[2:]), None, "disaggregated", labels[1]
    if "aggr" in prefix:
        if len(labels) > 2 and labels[1] == "ctx_only":
            return "-".join(labels[2:]), None, "aggregated", "ctx_only"
        select = [s.strip() for s in "-".join(labels[2:]).split(",")] if len(labels) > 2 else None
        return labels[1], select, "aggregated", None
    raise ValueError(f"test id [{test_id}]: invalid prefix {prefix!r}")


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def env_words(text):
    """NAME=value pairs of a *_env_var string, split as a shell would."""
    out = {}
    for word in shlex.split(text or ""):
        name, sep, value = word.partition("=")
        if sep:
            out[name] = value
    return out


def _gpus(section):
    return int(section.get("tensor_parallel_size", 1)) * int(section.get("pipeline_parallel_size", 1)) * int(
        section.get("context_parallel_size", 1)
    )


def _shape(gpus, gpus_per_node):
    """(nodes, tasks) of one server: nodes = ceil(gpus / gpus_per_node), tasks = nodes × min(gpus, gpus_per_node)."""
    nodes = math.ceil(gpus / gpus_per_node)
    return nodes, nodes * min(gpus, gpus_per_node)


@dataclass
class Plan:
    """What the test derives from its id and config: layout, sizes, expected env."""

    test_id: str
    runtime: str  # "disaggregated" or "aggregated"
    mode: str  # e2e, gen_only, ctx_only, or None (plain aggregated)
    config_path: Path
    cfg: dict
    gpus_per_node: int = 1
    no_context: bool = False
    num_gen: int = 0
    num_ctx: int = 0
    gen_tasks: int = 0
    ctx_tasks: int = 0
    servers: list = field(default_factory=list)  # aggregated: dicts name/tasks/nodes/env
    worker_tasks: int = 0
    total_nodes: int = 1
    first_concurrency: int = 1

    @property
    def disaggregated(self):
        return self.runtime == "disaggregated"

    @property
    def multi_node(self):
        return self.total_nodes > 1

    @property
    def name(self):
        return f"{self.mode}-{self.config_path.stem}"

    def roles(self):
        if not self.disaggregated:
            return ["WORKER"]
        return [f"GEN_{i}" for i in range(self.num_gen)] + [f"CTX_{i}" for i in range(self.num_ctx)] + list(SERVER_ROLES)

    def step_tasks(self, role):
        if role.startswith("GEN_"):
            return self.gen_tasks
        if role.startswith("CTX_"):
            return self.ctx_tasks
        if role == "WORKER":
            return self.worker_tasks
        return 1

    def launched(self, role):
        """§2: GEN/CTX/aggregated tasks run under the launcher when the job has more than one node."""
        return self.multi_node and role not in SERVER_ROLES

    def deciding(self, role):
        return role in ("BENCHMARK", "WORKER")

    def config_env(self, role):
        """§4 config env: the *_env_var entries a role must see, with literal values."""
        env = self.cfg.get("environment") or {}
        if role == "WORKER":
            if self.mode == "ctx_only":
                return {**env_words(env.get("worker_env_var")), **env_words(env.get("ctx_worker_env_var"))}
            if len(self.servers) != 1:
                return {}  # several servers in one step: their entries may disagree
            return env_words(self.servers[0]["env"])
        if role == "DISAGG_SERVER":
            return env_words(env.get("server_env_var"))
        if role == "BENCHMARK":
            return env_words(env.get("benchmark_env_var"))
        kind = "gen" if role.startswith("GEN_") else "ctx"
        return {**env_words(env.get("worker_env_var")), **env_words(env.get(f"{kind}_worker_env_var"))}

    def gen_only_env(self, role):
        """§4 gen_only: (variables that must be set to these values, variables that must be absent)."""
        if self.mode != "gen_only":
            return {}, [v for v in GEN_ONLY_VARS]
        if self.no_context:
            return {"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "1"}, []
        if role.startswith("GEN_"):
            want = {"TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP": "1", "TLLM_BENCHMARK_REQ_QUEUES_SIZE": str(self.first_concurrency)}
            return want, ["TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"]
        return {}, ["TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"]


def plan_for(test_id):
    base, select, runtime, mode = parse_test_id(test_id)
    folder = config_dir(mode in ("e2e", "gen_only", "ctx_only"))
    path = folder / (base if base.endswith(".yaml") else base + ".yaml")
    if not path.is_file():
        hint = " (an aggregated config name cannot contain '-': TensorRT-LLM takes the second label of the id)" if mode is None else ""
        raise FileNotFoundError(f"test id [{test_id}]: no config {path}{hint}")
    cfg = load_yaml(path)
    gpn = int((cfg.get("hardware") or {}).get("gpus_per_node") or 1)
    plan = Plan(test_id=test_id, runtime=runtime, mode=mode, config_path=path, cfg=cfg, gpus_per_node=gpn)
    workers = cfg.get("worker_config") or {}
    if runtime == "disaggregated":
        hw = cfg.get("hardware") or {}
        bench = cfg.get("benchmark") or {}
        plan.no_context = mode == "gen_only" and "gen_only_no_context" in str(bench.get("mode", "e2e"))
        plan.num_gen = int(hw.get("num_gen_servers", 0))
        plan.num_ctx = 0 if plan.no_context else int(hw.get("num_ctx_servers", 0))
        gen_nodes, plan.gen_tasks = _shape(_gpus(workers.get("gen") or {}), gpn)
        ctx_nodes, plan.ctx_tasks = _shape(_gpus(workers.get("ctx") or {}), gpn)
        plan.total_nodes = plan.num_gen * gen_nodes + plan.num_ctx * ctx_nodes
        concurrency = str(bench.get("concurrency_list", "1")).split()
        plan.first_concurrency = int(concurrency[0]) if concurrency else 1
    elif mode == "ctx_only":
        plan.total_nodes, plan.worker_tasks = _shape(_gpus(workers.get("ctx") or {}), gpn)
    else:
        for entry in cfg.get("server_configs") or []:
            if select is not None and entry.get("name") not in select:
                continue
            gpus = int(entry.get("gpus") or _gpus(entry))
            nodes, tasks = _shape(gpus, gpn)
            plan.servers.append({"name": entry.get("name", ""), "nodes": nodes, "tasks": tasks, "env": entry.get("server_env_var", "")})
        if not plan.servers:
            raise LookupError(f"test id [{test_id}]: no server {select} in {path}")
        plan.total_nodes = max(s["nodes"] for s in plan.servers)
        plan.worker_tasks = max(s["tasks"] for s in plan.servers)
    return plan


# ---------------------------------------------------------------- files


def write_json(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def record_path(ws, role, rank):
    return Path(ws) / "test_output" / f"{role}.{rank}.json"


def launcher_record_path(ws, role, rank):
    return Path(ws) / "test_output" / "launcher" / f"{role}.{rank}.json"


def workspace(output_dir):
    """WS as the runner gave it in --output-dir, without the trailing slash."""
    return os.path.normpath(output_dir) if output_dir else None


def abort_path(tod):
    return Path(tod) / "example_abort.json"


class Aborted(Exception):
    """Another role gave up (its reason is the message)."""


def wait_for(ready, timeout_s, tod=None, tick=None):
    """Poll ready() until it is truthy; False on timeout.  Raises Aborted when
    a role wrote TOD/example_abort.json, so no role waits for a peer that
    already failed.  tick() runs once per poll."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = ready()
        if got:
            return got
        if tick is not None:
            tick()
        if tod is not None:
            abort = read_json(abort_path(tod))
            if abort:
                raise Aborted(f"{abort.get('role')} gave up: {abort.get('reason')}")
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)


def abort(tod, role, reason):
    path = abort_path(tod)
    if not path.exists():
        write_json(path, {"role": role, "reason": reason, "time": time.time()})


# ---------------------------------------------------------------- identity


def role_of(plan):
    """TensorRT-LLM's view: DISAGG_SERVING_TYPE, default BENCHMARK; aggregated: the worker."""
    if not plan.disaggregated:
        return "WORKER"
    return os.environ.get("DISAGG_SERVING_TYPE", "BENCHMARK")


def under_launcher():
    return os.environ.get("TLLM_SPAWN_PROXY_PROCESS") == "1"


def rank_of():
    """The step rank of this pytest: 0 under the launcher (only rank 0 runs
    pytest and SLURM_PROCID is gone), else SLURM_PROCID."""
    if under_launcher():
        return 0
    try:
        return int(os.environ.get("SLURM_PROCID") or 0)
    except ValueError:
        return 0


def node_name():
    return os.environ.get("SLURMD_NODENAME") or os.environ.get("NODERUN_NODE") or socket.gethostname()


# ---------------------------------------------------------------- §3 argv


def option_names(tokens):
    """The option names of an argv, in order, aliases resolved."""
    names = []
    skip = False
    for tok in tokens:
        if skip:
            skip = False
            continue
        if not tok.startswith("-") or tok == "-":
            continue
        name, eq, _ = tok.partition("=")
        if tok.startswith("-o") and tok != "-o" and not tok.startswith("--"):
            name, eq = "-o", "="  # -ojunit_logging=...
        names.append(ALIASES.get(name, name))
        skip = not eq and name in VALUE_OPTIONS
    return names


def check_argv(config, role, deciding, test_id):
    """§3: the options each role gets, from pytest's own view of this process."""
    bad = []
    tokens = list(config.invocation_params.args)
    names = option_names(tokens)
    opt = config.getoption
    where = f"{role}'s pytest line"

    positional = list(config.option.file_or_dir or [])
    if positional:
        bad.append(f"§3 no test node id on the command line: {where} has {positional} (the test list chooses the test)")
    if "-vv" not in tokens:
        bad.append(f"§3 -vv missing from {where}")
    if opt("--timeout-method") != "thread":
        bad.append(f"§3 --timeout-method=thread missing from {where} (got {opt('--timeout-method')!r})")
    if not opt("--apply-test-list-correction"):
        bad.append(f"§3 --apply-test-list-correction missing from {where}")
    if not opt("--timeout") or opt("--timeout") <= 0:
        bad.append(f"§3 --timeout=<seconds> missing from {where}")
    if "--rootdir" not in names or Path(config.rootpath).resolve() != DEFS:
        bad.append(f"§3 --rootdir {DEFS} missing from {where} (rootdir {config.rootpath})")
    if Path(config.invocation_params.dir).resolve() != DEFS:
        bad.append(f"§3 cwd must be DEFS {DEFS}, got {config.invocation_params.dir}")
    stage = os.environ.get("stageName")
    if not stage:
        bad.append("§3/§4 stageName is not set: --test-prefix must be the stage name")
    elif opt("--test-prefix") != stage:
        bad.append(f"§3 --test-prefix must equal $stageName {stage!r}, got {opt('--test-prefix')!r}")
    waives = opt("--waives-file")
    if not waives:
        bad.append(f"§3 --waives-file missing from {where}")
    elif not os.path.isfile(waives):
        bad.append(f"§3/§5 waives file {waives} does not exist")
    out = opt("--output-dir")
    if not out:
        bad.append(f"§3 --output-dir=WS/ missing from {where}")
    elif not os.path.isdir(out):
        bad.append(f"§3 --output-dir {out} is not a directory")
    if config.getini("junit_logging") != "out-err":
        bad.append(f"§3 -o junit_logging=out-err missing from {where}")
    bad += _check_test_list(opt("--test-list"), test_id, where)
    if opt("--splitting-algorithm") != "least_duration" or "--splitting-algorithm" not in names:
        bad.append(f"§3 --splitting-algorithm least_duration missing from {where}")
    splits, group = opt("--splits"), opt("--group")
    if not splits or not group or not 1 <= group <= splits:
        bad.append(f"§3 --splits N --group K (1 <= K <= N) missing from {where}: got {splits}, {group}")

    if deciding:
        ws = workspace(out)
        if not opt("--csv"):
            bad.append(f"§3 --csv=WS/report.csv missing from {where} (the deciding role writes report.csv)")
        elif ws and os.path.normpath(opt("--csv")) != os.path.join(ws, "report.csv"):
            bad.append(f"§3 --csv must be WS/report.csv, got {opt('--csv')}")
        for flag in ("--periodic-junit", "--periodic-save-unfinished-test", "--periodic-hang-traceback"):
            if flag not in names:
                bad.append(f"§3 {flag} missing from {where} (the deciding role writes the stage junit)")
        if not opt("--periodic-junit-xmlpath"):
            bad.append(f"§3 --periodic-junit-xmlpath PATH missing from {where}")
        if "--periodic-batch-size" not in names or opt("--periodic-batch-size") != 1:
            bad.append(f"§3 --periodic-batch-size=1 missing from {where}")
    else:
        extra = sorted({n for n in names if n.startswith(("--csv", "--cov", "--periodic"))})
        if extra:
            bad.append(f"§3 {role} must not get {extra}: only the deciding role writes the stage junit and report.csv")
        junit = opt("xmlpath")
        ws = workspace(out)
        if junit and ws and os.path.normpath(junit) == os.path.join(ws, "results.xml"):
            bad.append(f"§3 {role} must not write the stage junit WS/results.xml")

    order = [REFERENCE_ORDER.index(n) for n in dict.fromkeys(names) if n in REFERENCE_ORDER]
    if order != sorted(order):
        got = [REFERENCE_ORDER[i] for i in order]
        bad.append(f"§3 options out of the contract's order: {got}")
    return bad


def _check_test_list(path, test_id, where):
    if not path:
        return [f"§3 --test-list=WS/<list>.txt missing from {where}"]
    try:
        lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    except OSError as e:
        return [f"§3/§5 test list {path}: {e.strerror}"]
    want = f"{TEST_FILE}::{TEST_FUNCTION}[{test_id}]"
    if not any(line.split(" ")[0] == want for line in lines):
        return [f"§3/§5 test list {path} does not hold {want}"]
    return []


# ---------------------------------------------------------------- §2, §4 env


def expected_ci_env():
    """EXAMPLE_EXPECT_CI_ENV: comma-separated NAME or NAME=VALUE."""
    out = {}
    for item in (os.environ.get("EXAMPLE_EXPECT_CI_ENV") or "").split(","):
        item = item.strip()
        if item:
            name, sep, value = item.partition("=")
            out[name] = value if sep else None
    return out


def ci_env_view():
    """What this process saw of the CI variables, secrets hashed only."""
    names = set(expected_ci_env()) | {"stageName", "LLM_MODELS_ROOT", "NVIDIA_IMEX_CHANNELS"}
    view = {}
    for name in sorted(names):
        value = os.environ.get(name)
        entry = {"set": value is not None}
        if value is not None:
            entry["sha256"] = hashlib.sha256(value.encode()).hexdigest()
            if not SECRET_NAME.search(name):
                entry["value"] = value
        view[name] = entry
    return view


def check_env(plan, role, rank, ws):
    """§2 and §4 from this process's environment."""
    env = os.environ
    bad = []
    launched = under_launcher()

    if plan.launched(role) and not launched:
        bad.append(f"§2 {role} of a {plan.total_nodes}-node job must run under trtllm-llmapi-launch (TLLM_SPAWN_PROXY_PROCESS unset)")
    if launched and not plan.launched(role):
        why = "DISAGG_SERVER and BENCHMARK" if role in SERVER_ROLES else "one-node jobs"
        bad.append(f"§2 {role}: {why} never run under the launcher (TLLM_SPAWN_PROXY_PROCESS=1)")
    if launched:
        for name in ("TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR", "TLLM_SPAWN_PROXY_PROCESS_IPC_HMAC_KEY", "tllm_mpi_size"):
            if not env.get(name):
                bad.append(f"§2 the launcher must set {name}")
        if env.get("tllm_mpi_size") != str(plan.step_tasks(role)):
            bad.append(f"§2 tllm_mpi_size must be the step's {plan.step_tasks(role)} tasks, got {env.get('tllm_mpi_size')!r}")
        leaked = sorted(k for k in env if k.startswith(LAUNCHER_STRIPPED))
        if leaked:
            bad.append(f"§2 the launcher strips MPI/Slurm variables for rank 0's pytest, got {leaked}")
        rec = read_json(launcher_record_path(ws, role, 0)) if ws else None
        if rec is None:
            bad.append(f"§2 no launcher record of {role} rank 0 (WS/test_output/launcher/{role}.0.json)")
        elif rec.get("pid") != os.getppid():
            bad.append(f"§2 pytest runs only on step rank 0, as the launcher's child (parent {os.getppid()}, rank-0 launcher {rec.get('pid')})")

    serving = env.get("DISAGG_SERVING_TYPE")
    if plan.disaggregated:
        if serving is None:
            bad.append("§4 DISAGG_SERVING_TYPE is unset (TensorRT-LLM then takes BENCHMARK)")
        elif serving not in plan.roles():
            bad.append(f"§4 DISAGG_SERVING_TYPE={serving!r} is not a role of this job {plan.roles()}")
    elif serving is not None:
        bad.append(f"§4 DISAGG_SERVING_TYPE must be unset for an aggregated job, got {serving!r}")

    if role.startswith(("GEN_", "CTX_")):
        want = f"/tmp/flashinfer_jit_cache_{rank}"
        if env.get("FLASHINFER_JIT_DIR") != want:
            bad.append(f"§4 FLASHINFER_JIT_DIR must be {want} (per local rank), got {env.get('FLASHINFER_JIT_DIR')!r}")
        if env.get("HF_HOME") != "/tmp/hf_home":
            bad.append(f"§4 HF_HOME must be /tmp/hf_home, got {env.get('HF_HOME')!r}")

    for name, value in sorted(plan.config_env(role).items()):
        if env.get(name) != value:
            bad.append(f"§4 config env {name}: want the literal {value!r}, got {env.get(name)!r}")
    want, absent = plan.gen_only_env(role)
    for name, value in sorted(want.items()):
        if env.get(name) != value:
            bad.append(f"§4 {plan.mode} needs {name}={value} for {role}, got {env.get(name)!r}")
    for name in absent:
        if name in env:
            bad.append(f"§4 {name} must not be set for {role} in mode {plan.mode}")

    for name, value in sorted(expected_ci_env().items()):
        if name not in env:
            bad.append(f"§4 CI variable {name} did not arrive")
        elif value is not None and env[name] != value:
            shown = "" if SECRET_NAME.search(name) else f": want {value!r}, got {env[name]!r}"
            bad.append(f"§4 CI variable {name} arrived changed{shown}")
    models = env.get("LLM_MODELS_ROOT")
    if not models or not os.path.isabs(models) or not os.path.isdir(models):
        bad.append(f"§4 LLM_MODELS_ROOT must be an existing absolute directory, got {models!r}")
    if "NVIDIA_IMEX_CHANNELS" not in env:
        bad.append("§4 NVIDIA_IMEX_CHANNELS must reach every role (default 0)")

    if role in ("WORKER",) or role.startswith(("GEN_", "CTX_")):
        nvd = env.get("NVIDIA_VISIBLE_DEVICES")
        if not nvd or nvd.lower() in ("none", "void"):
            bad.append(f"§4 NVIDIA_VISIBLE_DEVICES must name the node's GPUs for worker tasks, got {nvd!r}")

    if ws:
        pattern = re.escape(os.path.join(ws, "timeout_data_step")) + r"(\d+)_rank(\d+)\.jsonl"
        m = re.fullmatch(pattern, os.path.normpath(env.get("TRTLLM_TIMEOUT_DATA_FILE") or "."))
        if not m:
            bad.append(f"§4 TRTLLM_TIMEOUT_DATA_FILE must be WS/timeout_data_step<step>_rank<rank>.jsonl, got {env.get('TRTLLM_TIMEOUT_DATA_FILE')!r}")
        elif int(m.group(2)) != rank:
            bad.append(f"§4 TRTLLM_TIMEOUT_DATA_FILE names rank {m.group(2)}, this pytest is step rank {rank}")
        elif launched:
            rec = read_json(launcher_record_path(ws, role, 0)) or {}
            step = (rec.get("kept_env") or {}).get("SLURM_STEP_ID")
            if step is not None and m.group(1) != step:
                bad.append(f"§4 TRTLLM_TIMEOUT_DATA_FILE names step {m.group(1)}, the step is {step}")

    if "SLURM_JOB_ID" in env:
        bad.append(f"§4 no pytest process may see SLURM_JOB_ID (got {env['SLURM_JOB_ID']}): the roles must agree on TOD/hostnames-local-<idx>/")
    if role in SERVER_ROLES or not plan.multi_node:
        leaked = sorted(k for k in env if k.startswith(RUNNER_STRIPPED) and k != "SLURM_PROCID")
        if leaked:
            where = role if role in SERVER_ROLES else "a task of a one-node job"
            bad.append(f"§4 {where} must not see PMI*/PMIX*/MPI*/OMPI*/SLURM* but SLURM_PROCID, got {leaked}")
        if "SLURM_PROCID" not in env and not launched:
            bad.append(f"§4 {role} must keep SLURM_PROCID")
    return bad


def seen_env():
    """The values the Go tests assert on."""
    names = [
        "DISAGG_SERVING_TYPE", "SLURMD_NODENAME", "NODERUN_NODE", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_JOB_ID",
        "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "FLASHINFER_JIT_DIR", "HF_HOME", "TRTLLM_TIMEOUT_DATA_FILE",
        "TLLM_SPAWN_PROXY_PROCESS", "tllm_mpi_size", *GEN_ONLY_VARS,
    ]
    return {name: os.environ.get(name) for name in names}


# ---------------------------------------------------------------- cross-role checks


def check_launcher_records(plan, ws, wait_s):
    """§2, from the deciding role: every task of every launched step was wrapped,
    kept its Slurm env, and got its per-task values (§4)."""
    bad = []
    for role in plan.roles():
        if not plan.launched(role):
            continue
        tasks = plan.step_tasks(role)
        paths = [launcher_record_path(ws, role, r) for r in range(tasks)]
        wait_for(lambda: all(p.exists() for p in paths), wait_s)
        steps = set()
        for rank, path in enumerate(paths):
            rec = read_json(path)
            if rec is None:
                bad.append(f"§2 task {rank} of {role} was not started under the launcher (no {path.name} in WS/test_output/launcher)")
                continue
            kept = rec.get("kept_env") or {}
            who = f"{role} rank {rank} under the launcher"
            if rec.get("rank") != rank or kept.get("SLURM_PROCID") != str(rank):
                bad.append(f"§2 {who} must keep SLURM_PROCID={rank}, got {kept.get('SLURM_PROCID')!r}")
            if rec.get("size") != tasks or kept.get("SLURM_NTASKS") != str(tasks):
                bad.append(f"§2 {who} must keep SLURM_NTASKS={tasks}, got {kept.get('SLURM_NTASKS')!r}")
            for name in ("SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_LOCALID"):
                if name not in kept:
                    bad.append(f"§2 {who} must keep {name}")
            steps.add(kept.get("SLURM_STEP_ID"))
            tllm = rec.get("tllm") or {}
            if tllm.get("TLLM_SPAWN_PROXY_PROCESS") != "1" or not tllm.get("TLLM_SPAWN_PROXY_PROCESS_IPC_ADDR") or not tllm.get("hmac_key_length"):
                bad.append(f"§2 {who} lacks the TLLM_SPAWN_PROXY_PROCESS* variables")
            env = rec.get("env") or {}
            step = kept.get("SLURM_STEP_ID")
            want = os.path.join(ws, f"timeout_data_step{step}_rank{rank}.jsonl")
            if env.get("TRTLLM_TIMEOUT_DATA_FILE") != want:
                bad.append(f"§4 {who}: TRTLLM_TIMEOUT_DATA_FILE must be {want}, got {env.get('TRTLLM_TIMEOUT_DATA_FILE')!r}")
            nvd = env.get("NVIDIA_VISIBLE_DEVICES")
            if not nvd or nvd.lower() in ("none", "void"):
                bad.append(f"§4 {who}: NVIDIA_VISIBLE_DEVICES must be set, got {nvd!r}")
            if role != "WORKER":
                local = kept.get("SLURM_LOCALID")
                if env.get("FLASHINFER_JIT_DIR") != f"/tmp/flashinfer_jit_cache_{local}":
                    bad.append(f"§4 {who}: FLASHINFER_JIT_DIR must be /tmp/flashinfer_jit_cache_{local}, got {env.get('FLASHINFER_JIT_DIR')!r}")
                if env.get("HF_HOME") != "/tmp/hf_home":
                    bad.append(f"§4 {who}: HF_HOME must be /tmp/hf_home, got {env.get('HF_HOME')!r}")
        if len(steps) > 1:
            bad.append(f"§2 the tasks of {role} report different steps {sorted(map(str, steps))}: one step per role")
    return bad


def check_peer_records(plan, ws, own, wait_s):
    """From the deciding role: every role's pytest wrote its record, none broke
    the contract, all saw the same CI variables, and the steps differ."""
    bad = []
    peers = {}
    for role in plan.roles():
        if role == own["role"]:
            continue
        path = record_path(ws, role, 0)
        wait_for(path.exists, wait_s)
        rec = read_json(path)
        if rec is None:
            bad.append(f"§2 {role} rank 0 wrote no record ({path.name}): did its pytest run?")
            continue
        peers[role] = rec
        bad += [f"{role}: {v}" for v in rec.get("violations") or []]
    mine = own.get("ci_env") or {}
    for role, rec in sorted(peers.items()):
        theirs = rec.get("ci_env") or {}
        for name in sorted(set(mine) | set(theirs)):
            a, b = mine.get(name, {}), theirs.get(name, {})
            if a.get("set") != b.get("set") or a.get("sha256") != b.get("sha256"):
                bad.append(f"§4 CI variable {name} differs between {own['role']} and {role}")
    steps = {}
    for role, rec in [(own["role"], own)] + sorted(peers.items()):
        m = re.search(r"timeout_data_step(\d+)_rank", (rec.get("env") or {}).get("TRTLLM_TIMEOUT_DATA_FILE") or "")
        if m:
            steps.setdefault(m.group(1), []).append(role)
    for step, roles in sorted(steps.items()):
        if len(roles) > 1:
            bad.append(f"§4 TRTLLM_TIMEOUT_DATA_FILE: roles {roles} name the same step {step}")
    return bad
