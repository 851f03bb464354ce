"""benchmarks/machine.py: the line a benchmark prints first says what it ran on."""

from benchmarks import machine

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2450.000

processor\t: 1
model name\t: AMD EPYC 7B13
"""


def test_the_cpu_model_is_the_first_model_name():
    assert machine.cpu_model(CPUINFO) == 'AMD EPYC 7B13'


def test_no_model_name_gives_none():
    assert machine.cpu_model('processor\t: 0\nmodel name\t:   \n') is None
    assert machine.cpu_model('') is None


def test_the_line_names_python_and_each_package_with_its_version():
    line = machine.describe(('apache-beam', 'no-such-package-here'))
    assert line.startswith('machine: ') and ' / Python 3.' in line
    assert 'apache-beam 2.' in line  # installed: its version, not a placeholder
    assert 'no-such-package-here absent' in line
