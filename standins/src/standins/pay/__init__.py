"""Sandbox payment provider: a real local HTTP server speaking the payment
provider contract (a GOV.UK Pay–compatible subset; see the contract README).

penaltypay talks to it exactly as it talks to the real provider, so switching
is configuration only. On top of the contract it has:

- a hosted card page (`/secure/{token}`) that takes the contract's test cards;
- fault controls the reliability tests need: delayed, dropped, duplicated and
  reordered webhooks, creates that answer 500 after (or before) storing the
  payment, slow create answers, a lagging search;
- a control API under `/_sandbox/…` (no authentication: never expose it) and
  the same controls as Python methods on `SandboxProvider`.

Plain standard library and no Django, so it runs as its own process
(`python -m standins.pay --port 8082`) or in a test's thread.
All state is in memory behind one lock. With a state file (`state_file=` /
`--state-file PATH`) the payments, their events and refunds also survive a
restart, as a real provider's do: the file is read at construction and rewritten
atomically after every change to them. Settings, faults, card-page links and
webhook deliveries are never saved. A full card number never leaves the
function that checks the card form: only the brand and last four digits are kept.


Modules: `model` (payments, refunds, test cards, errors), `validation` (settings and
create bodies), `cards` (the card form), `representation` (the contract's JSON), `api`,
`card_page`, `controls`, `webhooks` (the operations, mixed into `SandboxProvider` in
`provider`), `state_file`, `server` (HTTP), `pages` (HTML).
"""

from standins.pay.model import PaymentFinished, SandboxStateError
from standins.pay.provider import SandboxProvider

__all__ = ["PaymentFinished", "SandboxProvider", "SandboxStateError"]
