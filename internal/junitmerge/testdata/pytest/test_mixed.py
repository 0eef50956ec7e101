"""A pytest module with one test of each outcome noderun merge must keep.

internal/junitmerge's tests run it with real pytest, in both junit families,
and merge what pytest writes. It prints unicode, ANSI colour codes, NUL and
ESC so that the junit file holds what real test output holds.
"""
import sys
import pytest

def test_pass():
    print("héllo wörld ✓ 日本語 🚀")
    sys.stderr.write("\x1b[33mwarning\x1b[0m on stderr\n")

def test_fail():
    print("\x1b[31mred\x1b[0m and NUL:\x00 ESC:\x1b end")
    assert 1 == 2, "\x1b[1mbold\x1b[0m mismatch"

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

def test_fixture_error(broken):
    pass

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown exploded")

def test_fail_and_teardown_error(bad_teardown):
    assert False, "call failed"

def test_skip():
    pytest.skip("not today")

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed?")
def test_xpass():
    pass

@pytest.mark.xfail(reason="strict", strict=True)
def test_xpass_strict():
    pass
