"""Steps of the keeper's journey, driven as a keeper would: by labels and button names."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

# Sandbox test cards (docs/contracts/payment-provider/README.md).
SUCCESS_CARD = "4444333322221111"
DECLINED_CARD = "4000000000000002"
ERROR_CARD = "4000000000000119"  # the provider fails: no money taken


# The language the keeper's pages are being driven in: steps find labels and buttons by
# their words in it (the Welsh from the same catalogue the pages use).
LANGUAGE = {"code": "en"}


def t(msgid: str, **values: str) -> str:
    with translation.override(LANGUAGE["code"]):
        text = gettext(msgid)
    return text % values if values else text


def start_and_find(page: Page, reference: str, registration: str) -> None:
    """From the start page, through "Start now", to submitting the find form."""
    page.goto("/")
    page.get_by_role("button", name="Start now").click()
    expect(page).to_have_url(re.compile(r"/find-your-penalty$"))
    find(page, reference, registration, navigate=False)


def find(page: Page, reference: str, registration: str, *, navigate: bool = True) -> None:
    if navigate:
        page.goto("/find-your-penalty")
    page.get_by_label(t("Penalty reference")).fill(reference)
    page.get_by_label(t("Vehicle registration number")).fill(registration)
    # The answer is often the same URL (the form again, with errors): wait for the
    # new document itself, not for the URL to change.
    with page.expect_navigation():
        page.get_by_role("button", name=t("Continue"), exact=True).click()


def continue_to_card_page(page: Page, provider, email: str = "keeper@example.com", amount: str = "£40") -> None:
    """From "your penalty" to the provider's card page."""
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.locator("h1")).to_have_text("Email address for your receipt (optional)")
    page.get_by_label("Email address for your receipt (optional)").fill(email)
    page.get_by_role("button", name=f"Pay {amount} now").click()
    expect(page).to_have_url(re.compile("^" + re.escape(provider.base_url) + "/"))
    expect(page.locator("h1")).to_have_text("Enter card details")


def pay_on_card_page(page: Page, card_number: str, *, name: str = "Alex Keeper") -> None:
    """Fill in the sandbox provider's card page and confirm (labels as the sandbox renders them)."""
    page.get_by_label("Card number", exact=True).fill(card_number)
    page.get_by_label("Month").fill("12")
    page.get_by_label("Year").fill(str(date.today().year + 3))
    page.get_by_label("Name on card").fill(name)
    page.get_by_label("Card security code").fill("123")
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm payment").click()


def main_text(page: Page) -> str:
    return page.locator("main").inner_text()


# --- axe-core ------------------------------------------------------------

# Installed by `make install` (npm ci); the version is pinned in package.json.
AXE_SCRIPT = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

# No rule is switched off. One finding is set aside, node by node:
#
# "region" (best practice, not WCAG) on `.govuk-back-link`. The GOV.UK Design System
# tells services to put the Back link before <main> so that the skip link skips it,
# which leaves it outside every landmark; GOV.UK decided to keep it there and document
# the axe finding (alphagov/govuk-frontend#6460, alphagov/govuk-design-system#5024).
# Any other content outside a landmark still fails the scan.
AXE_ACCEPTED = {("region", ".govuk-back-link")}


def axe_violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE_SCRIPT))
    violations = page.evaluate(
        """async (tags) => {
            // resultTypes: only violations are reported in full (passes are not needed; faster).
            const results = await axe.run(document, {
                runOnly: {type: 'tag', values: tags},
                resultTypes: ['violations'],
            });
            return results.violations;
        }""",
        AXE_TAGS,
    )
    kept = []
    for violation in violations:
        nodes = [
            node
            for node in violation["nodes"]
            if (violation["id"], " ".join(map(str, node["target"]))) not in AXE_ACCEPTED
        ]
        if nodes:
            kept.append({**violation, "nodes": nodes})
    return kept


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"][:5]:
            lines.append(f"    at {', '.join(map(str, node['target']))}")
            lines.append(f"       {node['html'][:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"       {summary[:300]}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    ... and {len(violation['nodes']) - 5} more")
    return "\n".join(lines)
