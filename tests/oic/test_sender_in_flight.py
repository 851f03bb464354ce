"""The sender's in-flight part alone (no pipeline, no services): units handed to the pool come back on the caller's
thread, all of them by finish(), a unit whose work raised as the work's failed result."""

import threading

import pytest

from transforms.oic.sender.in_flight import InFlight
from transforms.oic.sender.settings import SenderSettings, resolve

URL = 'https://oic.example.com/ic/api/integration/v1/flows/rest/X/1.0/records'


class _Work:
    """A unit is an int: its result is its double; 13 raises."""

    def run(self, unit, caller, stop):
        if unit == 13:
            raise RuntimeError('unlucky')
        return 2 * unit

    def failed(self, unit, err, latency_s):
        return ('failed', unit, type(err).__name__)

    def records_in(self, unit):
        return 1

    def settled(self, result):
        return (not isinstance(result, tuple),)


class _NoCaller:
    def close(self):
        pass


def test_every_unit_handed_comes_back_once_by_finish_and_a_raising_one_as_its_failed_result():
    sender = InFlight(resolve(URL, 'u', concurrency=3), _Work(), caller_factory=_NoCaller)
    sender.setup()
    try:
        sender.start_bundle()
        back = []
        for unit in range(20):
            back.extend(sender.hand(unit, None, None))
        back.extend(sender.finish())
    finally:
        sender.teardown()
    assert sorted(f.unit for f in back) == list(range(20))
    assert {f.unit: f.result for f in back}[13] == ('failed', 13, 'RuntimeError')
    assert all(f.result == 2 * f.unit for f in back if f.unit != 13)


def test_teardown_sets_stop_for_the_work_in_flight():
    sender = InFlight(resolve(URL, 'u', concurrency=1), _Work(), caller_factory=_NoCaller)
    sender.setup()
    stop: threading.Event = sender.stop
    sender.teardown()
    assert stop.is_set()


def test_settings_keep_the_url_rule():
    with pytest.raises(ValueError, match='plain http'):
        SenderSettings('http://oic.example.com/x')
    with pytest.raises(ValueError, match='concurrency must be at least 1'):
        resolve(URL, 'u', concurrency=0)
