import pytest

from tests.staff_helpers import QUICK_HASHERS


@pytest.fixture(autouse=True)
def _quick_hashing(settings):
    settings.PASSWORD_HASHERS = [*QUICK_HASHERS, *settings.PASSWORD_HASHERS]
