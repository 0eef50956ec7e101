"""The example configs, as the example tests read them.

Like TensorRT-LLM's test code, the test finds its config from the bracket of
its id: ``<prefix>-[<mode>-]<config_stem>`` (disaggregated) or
``<prefix>-<config_stem>-<server_name>`` (aggregated).  The config's
``*_env_var`` strings tell which variables each role must see, with which
literal value.
"""

import re
import shlex
from pathlib import Path

try:  # Debian: python3-yaml. Without it, only what a regex can see is used.
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    yaml = None

# The tiny configs live in the TensorRT-LLM stand-in (../trtllm), where
# TensorRT-LLM keeps its perf configs; this suite reads the same files.
_PERF_SANITY = Path(__file__).resolve().parent.parent / "trtllm" / "tests" / "scripts" / "perf-sanity"
CONFIG_DIRS = (_PERF_SANITY / "disaggregated", _PERF_SANITY / "aggregated")
MODES = ("e2e", "gen_only_no_context", "gen_only", "ctx_only")


def load(path):
    """The parsed YAML, or None when PyYAML is missing."""
    if yaml is None:
        return None
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def is_aggregated(path):
    return re.search(r"^server_configs:", Path(path).read_text(encoding="utf-8"), re.M) is not None


def server_names(path):
    cfg = load(path)
    if cfg is not None:
        return [s["name"] for s in cfg.get("server_configs") or []]
    # Server entries sit at the first list level; client_configs deeper.
    text = Path(path).read_text(encoding="utf-8")
    return re.findall(r'^  - name:\s*"?([A-Za-z0-9_.+-]+)"?\s*$', text, re.M)


def config_paths():
    """Every example config, both layouts."""
    return sorted(p for d in CONFIG_DIRS for p in d.glob("*.yaml"))


def find(bracket, config_dirs=CONFIG_DIRS):
    """(config path, server name or None) for the bracket of a test id."""
    prefix, _, rest = bracket.partition("-")
    if not rest:
        raise LookupError(f"test id [{bracket}] has no '-': want <prefix>-<config>")
    for config_dir in config_dirs:
        try:
            return _find_in(rest, config_dir)
        except LookupError:
            continue
    raise LookupError(f"test id [{bracket}]: no config {rest}.yaml in {[str(d) for d in config_dirs]}")


def _find_in(rest, config_dir):
    for mode in MODES:
        if rest.startswith(mode + "-") and (config_dir / (rest[len(mode) + 1 :] + ".yaml")).is_file():
            rest = rest[len(mode) + 1 :]
            break
    path = config_dir / (rest + ".yaml")
    if path.is_file():
        return path, None
    # Aggregated: the longest stem whose config has the remaining server name.
    parts = rest.split("-")
    for i in range(len(parts) - 1, 0, -1):
        stem, server = "-".join(parts[:i]), "-".join(parts[i:])
        path = config_dir / (stem + ".yaml")
        if path.is_file() and server in server_names(path):
            return path, server
    raise LookupError(f"no config {rest}.yaml in {config_dir}")


def env_words(text):
    """NAME=value pairs of a *_env_var string, split as a shell would."""
    out = {}
    for word in shlex.split(text or ""):
        name, sep, value = word.partition("=")
        if sep:
            out[name] = value
    return out


def expected_env(cfg, role, server=None):
    """The variables a role must see, from the config's *_env_var entries.

    GEN_i/CTX_i: worker + gen_worker/ctx_worker; DISAGG_SERVER: server;
    BENCHMARK: benchmark + client; an aggregated worker: the server entry's
    server_env_var.
    """
    if server is not None:
        for s in cfg.get("server_configs") or []:
            if s.get("name") == server:
                return env_words(s.get("server_env_var"))
        raise LookupError(f"no server {server!r} in the config")
    env = cfg.get("environment") or {}
    keys = {
        "DISAGG_SERVER": ["server"],
        "BENCHMARK": ["benchmark", "client"],
    }.get(role)
    if keys is None:
        kind = role.split("_")[0].lower()  # GEN_0 -> gen
        keys = ["worker", kind + "_worker"]
    out = {}
    for k in keys:
        out.update(env_words(env.get(k + "_env_var")))
    return out
