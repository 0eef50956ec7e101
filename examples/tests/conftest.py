"""pytest hooks for the noderun example suite.

TensorRT-LLM's perf tests are selected by id, e.g.
``perf/test_perf_sanity.py::test_e2e[disagg_upload-disagg-tiny]``, and the
test parses the bracket to find its config.  noderun lets CI choose the prefix
(PERF_TEST_PREFIX), so this suite must collect *any* id it is asked for, not
only a fixed list.  ``pytest_generate_tests`` therefore parametrizes
``test_id`` with:

* every id named on the command line for this module's function (what
  ``noderun run`` passes: the id is the last argument of pytest's argv),
* every line of the test list named by NODERUN_TEST_LIST, or of
  $NODERUN_WORKSPACE/test_list.txt,
* the ids of the README for the example configs, so that a plain ``pytest``
  in this folder collects something.
"""

import os
import re
from pathlib import Path

import example_configs

# The grammar noderun validates before anything runs: prefix, config, server.
_BRACKET = re.compile(r"\[([A-Za-z0-9_.+-]+)\]$")

DISAGG_PREFIXES = ("disagg_upload", "disagg", "custom_test")
AGGR_PREFIXES = ("aggr_upload", "aggr", "custom_test")


def _requested_ids(config, module_file, function):
    """Ids in [...] of node ids that name this module's function."""
    candidates = list(config.args)
    test_list = os.environ.get("NODERUN_TEST_LIST")
    if not test_list and os.environ.get("NODERUN_WORKSPACE"):
        test_list = os.path.join(os.environ["NODERUN_WORKSPACE"], "test_list.txt")
    if test_list and os.path.isfile(test_list):
        with open(test_list, encoding="utf-8") as f:
            candidates += [line.strip() for line in f if line.strip()]
    ids = set()
    for arg in candidates:
        path, sep, rest = arg.partition("::")
        if not sep or not rest.startswith(function + "["):
            continue
        if Path(path).name != Path(module_file).name:
            continue
        m = _BRACKET.search(rest)
        if m:
            ids.add(m.group(1))
    return ids


def _default_ids():
    ids = set()
    for path in example_configs.config_paths():
        if example_configs.is_aggregated(path):
            servers = example_configs.server_names(path)
            ids |= {f"{p}-{path.stem}-{s}" for p in AGGR_PREFIXES for s in servers}
        else:
            ids |= {f"{p}-{path.stem}" for p in DISAGG_PREFIXES}
    return ids


def pytest_generate_tests(metafunc):
    if "test_id" not in metafunc.fixturenames:
        return
    ids = _requested_ids(metafunc.config, metafunc.module.__file__, metafunc.function.__name__)
    ids |= _default_ids()
    ordered = sorted(ids)
    metafunc.parametrize("test_id", ordered, ids=ordered)
