"""Stand-in for TensorRT-LLM's tests/integration/defs/conftest.py.

It defines the options of TensorRT-LLM's conftest with the same names,
aliases and defaults (--test-list/-F, --waives-file/-S, --output-dir/-O,
--test-prefix/-P, --apply-test-list-correction/-C, --periodic-*, ...), and
those of the plugins CI puts on the pytest line, which this machine lacks:
pytest-timeout (--timeout, --timeout-method), pytest-split (--splits,
--group, --splitting-algorithm), pytest-csv (--csv) and pytest-cov (--cov*).
A real plugin, when installed, keeps its own options and behaviour.

What is emulated, because the contract depends on it:

* --test-list FILE selects the tests named in FILE
  (``perf/test_perf_sanity.py::test_e2e[ID]``), --regexp filters them, and
  --waives-file FILE (must exist; may be empty) skips the ``<id> SKIP`` lines;
* --splits N --group K keeps the K-th of N groups of what is selected;
* --test-prefix P reports every node id as ``P/<node id>``, as TensorRT-LLM does;
* --csv FILE writes a CSV report;
* --periodic-junit writes a junit at --periodic-junit-xmlpath (default
  <output-dir>/results.xml), besides any --junit-xml;
* --timeout S ends a test that runs longer: stacks on stderr, exit status 1.

The output_dir fixture returns --output-dir as given, None when absent.
"""

import csv
import faulthandler
import os
import sys
import threading
from pathlib import Path

import pytest
import standin_contract as contract

# Options this conftest registered itself (a real plugin may own some).
_OWN = set()


def _add(parser, *names, **kwargs):
    try:
        parser.addoption(*names, **kwargs)
    except ValueError:  # already defined by the real plugin
        return
    _OWN.add(names[0])


def pytest_addoption(parser):
    # TensorRT-LLM's conftest.
    _add(parser, "--test-list", "-F", action="store", default=None, help="Path to the file containing the list of tests to run")
    _add(parser, "--workspace", "--ws", action="store", default=None, help="Workspace path to store temp data generated during the tests")
    _add(parser, "--waives-file", "-S", action="store", default=None, help="File of waives, one per line, applied to the collected tests")
    _add(parser, "--output-dir", "-O", action="store", default=None, help="Directory to store test output")
    _add(parser, "--test-prefix", "-P", action="store", default=None, help="Prefix of the reported test names (the CI stage name)")
    _add(parser, "--regexp", "-R", action="store", default=None, help="A regexp to specify which tests to run")
    _add(parser, "--apply-test-list-correction", "-C", action="store_true", help="Print corrections of invalid test names")
    _add(parser, "--perf", action="store_true", help="'--perf' will run perf tests")
    _add(parser, "--run-ray", action="store_true", default=False, help="Enable the Ray orchestrator path")
    _add(parser, "--perf-log-formats", action="append", default=[], help="yaml or csv; may repeat")
    _add(parser, "--test-model-suites", action="store", default=None, help="Test model suites separated by semicolons or spaces")
    _add(parser, "--periodic-junit", action="store_true", default=False, help="Enable the periodic JUnit XML reporter")
    _add(parser, "--periodic-interval", action="store", type=int, default=18000, help="Seconds between periodic saves")
    _add(parser, "--periodic-batch-size", action="store", type=int, default=10, help="Completed tests between periodic saves")
    _add(parser, "--periodic-junit-xmlpath", action="store", default=None, help="Where the periodic junit goes (default <output-dir>/results.xml)")
    _add(parser, "--periodic-save-unfinished-test", action="store_true", default=False, help="Save the running test on interruption")
    _add(parser, "--periodic-hang-traceback", action="store_true", default=False, help="Dump stacks of a hanging test")
    _add(parser, "--unittest-markexpr", action="store", default=None, help="Mark expression for the unittest sub-runs")
    # pytest-timeout.
    _add(parser, "--timeout", type=float, default=None, help="Timeout in seconds per test")
    _add(parser, "--timeout-method", "--timeout_method", action="store", choices=["signal", "thread"], default=None, help="Timeout mechanism")
    # pytest-split.
    _add(parser, "--splits", type=int, default=None, help="Number of groups to split the tests into")
    _add(parser, "--group", type=int, default=None, help="The group of tests to run (1-based)")
    _add(parser, "--splitting-algorithm", choices=["duration_based_chunks", "least_duration"], default="duration_based_chunks", help="How to split")
    _add(parser, "--store-durations", action="store_true", default=False, help="Store test durations")
    _add(parser, "--durations-path", action="store", default=".test_durations", help="Durations file")
    # pytest-csv.
    _add(parser, "--csv", action="store", default=None, help="Write a CSV report to this path")
    _add(parser, "--csv-delimiter", action="store", default=",", help="CSV delimiter")
    # pytest-cov: accepted, nothing measured.
    _add(parser, "--cov", action="append", nargs="?", const=True, default=[], help="Measure coverage for a path")
    _add(parser, "--cov-report", action="append", default=[], help="Coverage report type")
    _add(parser, "--cov-config", action="store", default=".coveragerc", help="Coverage config file")
    _add(parser, "--cov-append", action="store_true", default=False, help="Append coverage data")
    _add(parser, "--no-cov", action="store_true", default=False, help="Disable coverage")


@pytest.fixture(scope="session")
def output_dir(request):
    """--output-dir as given; None when absent (the test then crashes, as TensorRT-LLM's does)."""
    return request.config.getoption("--output-dir")


def _fail_session(config, message, stop=True):
    """Record a broken clause found before any test runs, then stop pytest."""
    ws = contract.workspace(config.getoption("--output-dir"))
    if ws and os.path.isdir(ws):
        role = os.environ.get("DISAGG_SERVING_TYPE") or "WORKER"
        contract.write_json(
            contract.record_path(ws, role, contract.rank_of()),
            {"role": role, "rank": contract.rank_of(), "node": contract.node_name(), "test_id": None,
             "violations": [message], "env": contract.seen_env(), "argv": list(config.invocation_params.args)},
        )
    if stop:
        raise pytest.UsageError(message)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    contract.CONFIG = config
    if not config.getoption("--periodic-junit"):
        return
    output = config.getoption("--output-dir")
    if not output:
        print("Warning: --periodic-junit requires --output-dir to be set. Periodic reporting disabled.", file=sys.stderr)
        return
    os.makedirs(output, exist_ok=True)
    path = config.getoption("--periodic-junit-xmlpath") or os.path.join(output, "results.xml")
    if not config.option.xmlpath:
        config.option.xmlpath = path  # pytest's own junitxml writes it
        return
    from _pytest import junitxml

    extra = junitxml.LogXML(
        path,
        config.option.junitprefix,
        config.getini("junit_suite_name"),
        config.getini("junit_logging"),
        config.getini("junit_duration_report"),
        config.getini("junit_family"),
        config.getini("junit_log_passing_tests"),
    )
    config.pluginmanager.register(extra, "periodic_junit")


def _test_list_ids(path):
    ids = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split(" TIMEOUT ")[0].strip()
        if line and not line.startswith("#"):
            ids.append(line.split(" ")[0])
    return ids


def _deselect(config, items, keep):
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = [item for item in items if item in keep]


def _split(items, splits, group, algorithm):
    """pytest-split without stored durations: every test weighs the same."""
    if algorithm == "least_duration":
        return [item for i, item in enumerate(items) if i % splits == group - 1]
    size, rest = divmod(len(items), splits)
    start = (group - 1) * size + min(group - 1, rest)
    return items[start : start + size + (1 if group <= rest else 0)]


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_collection_modifyitems(session, config, items):
    test_list = config.getoption("--test-list")
    if test_list:
        try:
            wanted = _test_list_ids(test_list)
        except OSError as e:
            _fail_session(config, f"§3/§5 --test-list {test_list}: {e.strerror}")
        collected = {item.nodeid for item in items}
        missing = [i for i in wanted if i not in collected]
        if missing and config.getoption("--apply-test-list-correction"):
            print(f"Invalid test names in {test_list} (not collected): {missing}", file=sys.stderr)
        _deselect(config, items, [item for item in items if item.nodeid in set(wanted)])
        if not items:
            _fail_session(config, f"§3/§5 the test list {test_list} selects no collected test: {wanted}", stop=False)
    regexp = config.getoption("--regexp")
    if regexp:
        import re

        _deselect(config, items, [item for item in items if re.search(regexp, item.nodeid)])
    waives = config.getoption("--waives-file")
    if waives:
        try:
            lines = Path(waives).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            _fail_session(config, f"§3/§5 --waives-file {waives}: {e.strerror}")
        skips = {}
        for line in lines:
            name, _, rest = line.strip().partition(" ")
            if name and rest.startswith("SKIP"):
                skips[name] = rest[4:].strip() or "waived"
        for item in items:
            if item.nodeid in skips:
                item.add_marker(pytest.mark.skip(reason=skips[item.nodeid]))
    splits, group = config.getoption("--splits"), config.getoption("--group")
    if "--splits" in _OWN and splits and group:
        if not 1 <= group <= splits:
            raise pytest.UsageError(f"--group {group} must be between 1 and --splits {splits}")
        _deselect(config, items, _split(list(items), splits, group, config.getoption("--splitting-algorithm")))
    yield
    prefix = config.getoption("--test-prefix")
    if prefix:
        for item in items:
            item._nodeid = f"{prefix}/{item._nodeid}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    timeout = item.config.getoption("--timeout") if "--timeout" in _OWN else None
    timer = None
    if timeout and timeout > 0:

        def expire():
            capman = item.config.pluginmanager.getplugin("capturemanager")
            if capman:
                capman.suspend_global_capture(in_=True)
            sys.stderr.write(f"\n+++++ Timeout +++++ {item.nodeid} ran longer than --timeout={timeout:g}s\n")
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            sys.stderr.flush()
            os._exit(1)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer:
            timer.cancel()


_CSV_ROWS = []


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and not report.passed) or (report.when == "teardown" and report.failed):
        status = report.outcome if report.when == "call" or report.skipped else "error"
        path, _, name = report.nodeid.partition("::")
        message = str(report.longrepr).splitlines()[-1] if report.longrepr else ""
        _CSV_ROWS.append([report.nodeid, path.replace("/", ".").removesuffix(".py"), name, report.location[0], status, message, f"{report.duration:.3f}"])


def pytest_sessionfinish(session):
    path = session.config.getoption("--csv") if "--csv" in _OWN else None
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=session.config.getoption("--csv-delimiter"))
        writer.writerow(["id", "module", "name", "file", "status", "message", "duration"])
        writer.writerows(_CSV_ROWS)
