from tests.adapters.test_notify import fake_notify  # noqa: F401 - a Notify that records what it was sent
