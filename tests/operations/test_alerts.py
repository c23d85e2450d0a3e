"""docs/alerts.yml cannot rot: every metric an alert uses is one the service exports, and
every alert leads to a section of the runbook that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from penaltypay.kernel import metrics
from penaltypay.operations.metrics import DatabaseFigures

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = ("_total", "_count", "_sum", "_bucket", "_created")


def exported() -> set[str]:
    names = {m._name for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    return names | {family.name for family in DatabaseFigures().collect()}


def runbook_anchors() -> set[str]:
    """GitHub's anchors for the runbook's headings."""
    anchors = set()
    for line in (ROOT / "docs/runbook.md").read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return anchors


def rules() -> list[dict]:
    document = yaml.safe_load((ROOT / "docs/alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.mark.django_db
def test_every_alert_uses_metrics_the_service_exports():
    known = exported()
    for rule in rules():
        used = set(re.findall(r"\bpenaltypay_[a-z_]+", rule["expr"]))
        assert used, rule["alert"]
        for name in used:
            base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s) and name[: -len(s)] in known), name)
            assert base in known, f"{rule['alert']} uses {name}, which the service does not export"


def test_every_alert_leads_to_a_runbook_section():
    anchors = runbook_anchors()
    for rule in rules():
        link = rule["annotations"]["runbook_url"]
        assert link.startswith("docs/runbook.md#"), rule["alert"]
        assert link.split("#", 1)[1] in anchors, f"{rule['alert']}: no runbook heading for {link}"
        assert rule["annotations"]["summary"]


def test_the_situations_the_runbook_describes_have_alerts():
    names = {rule["alert"] for rule in rules()}
    assert {
        "PenaltypayOutboxOld",
        "PenaltypayExceptionsWaiting",
        "PenaltypayEcsBreakerOpen",
        "PenaltypayEcsErrors",
        "PenaltypayProviderErrors",
        "PenaltypayReceiptsFailing",
        "PenaltypayReconciliationDifferences",
        "PenaltypayExtractNotLoaded",
    } <= names
