"""What a production install gets: the penaltypay wheel holds the product and nothing of
the local stand-ins (simulator, sandbox provider, chaos harness) or the tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> list[str]:
    # Built from a copy of the tracked files, as a release would be (and so that the
    # build leaves nothing behind in the working tree).
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = out.glob("penaltypay-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_the_product(wheel_names):
    for expected in (
        "penaltypay/settings.py",
        "penaltypay/payments/settlement.py",
        "penaltypay/adapters/ecs_soap/wsdl/enforcement-case-service.wsdl",
        "penaltypay/citizen/jinja2/citizen/start.html",
    ):
        assert expected in wheel_names


def test_the_wheel_holds_no_stand_in_test_or_benchmark_code(wheel_names):
    offending = [
        name
        for name in wheel_names
        if name.split("/")[0] in ("standins", "tests", "bench")
        or any(word in name for word in ("sandbox", "simulator", "chaos"))
    ]
    assert offending == []
