"""Waiting in tests: poll a condition with a deadline, never a bare sleep."""
import time


def wait_until(predicate, timeout=10.0, interval=0.02, what='condition'):
    """Poll `predicate` until it returns a true value (returned) or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %gs waiting for %s' % (timeout, what))
        time.sleep(interval)
