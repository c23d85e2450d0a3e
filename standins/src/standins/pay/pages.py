"""HTML for the sandbox provider's hosted card page.

Plain strings and `html.escape`, no template engine, so the sandbox stays a
standalone stdlib program. The pages have no scripts and no inline styles: they
must work under the strict Content Security Policy returned by
`content_security_policy`, and need no JavaScript at all. Every field has a
label, errors are linked from a summary at the top (the GOV.UK pattern), and
the card number and security code are never written back into the page.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

STYLESHEET_PATH = "/_sandbox/static/pay.css"

# The card page's words in both languages a payment can ask for (`language`).
_TEXT = {
    "en": {
        "service": "Sandbox payment provider",
        "tag": "TEST",
        "skip": "Skip to main content",
        "title": "Enter card details",
        "summary": "Payment summary",
        "paying_for": "Payment for",
        "amount": "Total amount",
        "card_number": "Card number",
        "card_number_hint": "Use one of the test cards listed below.",
        "expiry": "Expiry date",
        "expiry_hint": "For example, 04 30",
        "month": "Month",
        "year": "Year",
        "name": "Name on card",
        "security_code": "Card security code",
        "security_code_hint": "The last 3 digits on the back of the card. "
        "American Express cards have a 4-digit code on the front.",
        "pay": "Confirm payment",
        "wallets": "Pay with a digital wallet",
        "wallet_or": "Or enter your card details",
        "apple_pay": "Pay with Apple Pay (test wallet)",
        "google_pay": "Pay with Google Pay (test wallet)",
        "cancel": "Cancel payment",
        "problem": "There is a problem",
        "error_prefix": "Error:",
        "test_cards": "Test cards",
        "test_cards_intro": "This is a sandbox: no real card is charged. "
        "Use any future expiry date and any 3-digit security code (4 digits for American Express).",
        "col_number": "Card number",
        "col_outcome": "Outcome",
        "expired_title": "This payment link has expired",
        "expired_body": "The link has already been used, or the payment has finished or timed out.",
        "expired_next": "Go back to the service you were paying to check whether your payment went through, "
        "or to start again.",
        "challenge_title": "Confirm it is you",
        "challenge_body": "Your bank (a sandbox test bank) asks you to confirm this payment of {amount}.",
        "challenge_complete": "Complete authentication",
        "challenge_fail": "Fail authentication",
        "errors": {
            "card_number_missing": "Enter the card number",
            "card_number_invalid": "Enter a valid card number",
            "card_number_unknown": "Enter one of the sandbox test card numbers",
            "expiry_missing": "Enter the expiry date",
            "expiry_invalid": "Enter a real expiry date, for example 04 30",
            "expiry_past": "The expiry date must be in the future",
            "name_missing": "Enter the name as it appears on the card",
            "name_too_long": "The name on the card must be 200 characters or fewer",
            "security_code_missing": "Enter the card security code",
            "security_code_invalid": "Enter a valid card security code",
        },
    },
    "cy": {
        "service": "Darparwr taliadau blwch tywod",
        "tag": "PRAWF",
        "skip": "Neidio i'r prif gynnwys",
        "title": "Rhowch fanylion y cerdyn",
        "summary": "Crynodeb o'r taliad",
        "paying_for": "Taliad ar gyfer",
        "amount": "Cyfanswm",
        "card_number": "Rhif y cerdyn",
        "card_number_hint": "Defnyddiwch un o'r cardiau prawf isod.",
        "expiry": "Dyddiad dod i ben",
        "expiry_hint": "Er enghraifft, 04 30",
        "month": "Mis",
        "year": "Blwyddyn",
        "name": "Enw ar y cerdyn",
        "security_code": "Cod diogelwch y cerdyn",
        "security_code_hint": "Y 3 digid olaf ar gefn y cerdyn. "
        "Mae gan gardiau American Express god 4 digid ar y blaen.",
        "pay": "Cadarnhau'r taliad",
        "wallets": "Talu gyda waled ddigidol",
        "wallet_or": "Neu rhowch fanylion eich cerdyn",
        "apple_pay": "Talu gydag Apple Pay (waled prawf)",
        "google_pay": "Talu gyda Google Pay (waled prawf)",
        "cancel": "Canslo'r taliad",
        "problem": "Mae problem wedi codi",
        "error_prefix": "Gwall:",
        "test_cards": "Cardiau prawf",
        "test_cards_intro": "Blwch tywod yw hwn: nid oes unrhyw gerdyn go iawn yn cael ei godi. "
        "Defnyddiwch unrhyw ddyddiad dod i ben yn y dyfodol ac unrhyw god diogelwch 3 digid "
        "(4 digid ar gyfer American Express).",
        "col_number": "Rhif y cerdyn",
        "col_outcome": "Canlyniad",
        "expired_title": "Mae'r ddolen dalu hon wedi dod i ben",
        "expired_body": "Mae'r ddolen eisoes wedi'i defnyddio, neu mae'r taliad wedi gorffen neu wedi dod i ben.",
        "expired_next": "Ewch yn ôl i'r gwasanaeth roeddech yn talu iddo i wirio a aeth eich taliad drwodd, "
        "neu i ddechrau eto.",
        "challenge_title": "Cadarnhewch mai chi sydd yno",
        "challenge_body": "Mae eich banc (banc prawf blwch tywod) yn gofyn i chi gadarnhau'r taliad hwn o {amount}.",
        "challenge_complete": "Cwblhau'r dilysu",
        "challenge_fail": "Methu'r dilysu",
        "errors": {
            "card_number_missing": "Rhowch rif y cerdyn",
            "card_number_invalid": "Rhowch rif cerdyn dilys",
            "card_number_unknown": "Rhowch un o rifau cardiau prawf y blwch tywod",
            "expiry_missing": "Rhowch y dyddiad dod i ben",
            "expiry_invalid": "Rhowch ddyddiad dod i ben go iawn, er enghraifft 04 30",
            "expiry_past": "Rhaid i'r dyddiad dod i ben fod yn y dyfodol",
            "name_missing": "Rhowch yr enw fel y mae'n ymddangos ar y cerdyn",
            "name_too_long": "Rhaid i'r enw ar y cerdyn fod yn 200 o nodau neu lai",
            "security_code_missing": "Rhowch god diogelwch y cerdyn",
            "security_code_invalid": "Rhowch god diogelwch dilys",
        },
    },
}

# The test cards' outcomes, in Welsh (English: model.OUTCOME_LABELS).
_OUTCOMES_CY = {
    "success": "Llwyddiant",
    "declined": "Wedi'i wrthod",
    "expired_card": "Wedi'i wrthod: cerdyn wedi dod i ben",
    "incorrect_cvc": "Wedi'i wrthod: cod diogelwch anghywir",
    "provider_error": "Gwall gan y darparwr, dim arian wedi'i gymryd",
    "3ds": "Her 3-D Secure, yna llwyddiant neu wrthod",
    "dispute_lost": "Llwyddiant, yna anghydfod gan y banc: colli'r anghydfod",
    "dispute_won": "Llwyddiant, yna anghydfod gan y banc: ennill yr anghydfod",
}


def outcome_labels(language: str) -> dict[str, str] | None:
    return _OUTCOMES_CY if language == "cy" else None


# Form field name -> the id of the input an error message links to.
FIELD_IDS = {
    "card_number": "card-number",
    "expiry": "expiry-month",
    "cardholder_name": "cardholder-name",
    "security_code": "security-code",
}


def _t(language: str) -> dict:
    return _TEXT.get(language, _TEXT["en"])


def format_amount(pence: int) -> str:
    return f"£{pence // 100:,}.{pence % 100:02d}"


def content_security_policy(return_url: str | None = None) -> str:
    """Nothing inline, nothing third party. `form-action` must also allow the
    service's origin: browsers apply it to the 303 redirect that follows a post."""
    form_action = "'self'"
    if return_url:
        parts = urlsplit(return_url)
        if parts.scheme in ("http", "https") and parts.netloc:
            form_action += f" {parts.scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            f"form-action {form_action}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def _layout(language: str, title: str, main: str) -> str:
    t = _t(language)
    lang = "cy" if language == "cy" else "en"
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)} – {escape(t["service"])}</title>
<link rel="stylesheet" href="{STYLESHEET_PATH}">
</head>
<body>
<a class="skip-link" href="#main">{escape(t["skip"])}</a>
<header class="banner">
<p class="banner__name">{escape(t["service"])} <strong class="tag">{escape(t["tag"])}</strong></p>
</header>
<main id="main" class="page">
{main}
</main>
</body>
</html>
"""


def _error_message(field_id: str, message: str | None, t: dict) -> str:
    if not message:
        return ""
    return (
        f'<p class="error-message" id="{field_id}-error">'
        f'<span class="visually-hidden">{escape(t["error_prefix"])}</span> {escape(message)}</p>\n'
    )


def _described_by(*ids: str | None) -> str:
    wanted = " ".join(i for i in ids if i)
    return f' aria-describedby="{wanted}"' if wanted else ""


def card_page(
    *,
    language: str,
    form_action: str,
    cancel_action: str,
    wallet_action: str = "",
    description: str,
    amount: int,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    test_cards: list[tuple[str, str]] = (),
) -> str:
    """The card details form. `errors` maps a form field to an error key
    (see `_TEXT[...]["errors"]`); `values` holds what may be shown again
    (expiry and name only: never the card number or security code)."""
    t = _t(language)
    errors = errors or {}
    values = values or {}
    messages = {name: t["errors"].get(key, key) for name, key in errors.items()}

    summary = ""
    if messages:
        items = "".join(f'<li><a href="#{FIELD_IDS[name]}">{escape(text)}</a></li>' for name, text in messages.items())
        summary = (
            '<div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1">\n'
            f'<h2 class="error-summary__title" id="error-summary-title">{escape(t["problem"])}</h2>\n'
            f'<ul class="error-summary__list">{items}</ul>\n</div>\n'
        )

    def group_class(name: str) -> str:
        return "field field--error" if name in messages else "field"

    def invalid(name: str) -> str:
        return ' aria-invalid="true"' if name in messages else ""

    def error_id(name: str, field_id: str) -> str | None:
        return f"{field_id}-error" if name in messages else None

    month = escape(values.get("expiry_month", ""))
    year = escape(values.get("expiry_year", ""))
    name_value = escape(values.get("cardholder_name", ""))

    rows = "".join(
        f"<tr><td>{escape(' '.join(number[i : i + 4] for i in range(0, len(number), 4)))}</td>"
        f"<td>{escape(outcome)}</td></tr>"
        for number, outcome in test_cards
    )
    test_card_help = (
        f'<details class="details">\n<summary>{escape(t["test_cards"])}</summary>\n'
        f"<p>{escape(t['test_cards_intro'])}</p>\n"
        f'<table class="table"><caption class="visually-hidden">{escape(t["test_cards"])}</caption>'
        f'<thead><tr><th scope="col">{escape(t["col_number"])}</th>'
        f'<th scope="col">{escape(t["col_outcome"])}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>\n</details>\n"
        if rows
        else ""
    )

    wallets = (
        f'<h2 class="heading-m">{escape(t["wallets"])}</h2>\n'
        f'<form method="post" action="{escape(wallet_action)}" class="wallet-form">\n'
        f'<button class="button button--wallet" type="submit" name="wallet" value="apple-pay">{escape(t["apple_pay"])}</button>\n'
        f'<button class="button button--wallet" type="submit" name="wallet" value="google-pay">{escape(t["google_pay"])}</button>\n'
        f'</form>\n<h2 class="heading-m">{escape(t["wallet_or"])}</h2>\n'
        if wallet_action
        else ""
    )
    main = f"""{summary}<h1>{escape(t["title"])}</h1>
<h2 class="visually-hidden">{escape(t["summary"])}</h2>
<dl class="summary">
<div class="summary__row"><dt>{escape(t["paying_for"])}</dt><dd>{escape(description)}</dd></div>
<div class="summary__row"><dt>{escape(t["amount"])}</dt><dd class="summary__amount">{escape(format_amount(amount))}</dd></div>
</dl>
{wallets}<form method="post" action="{escape(form_action)}" novalidate autocomplete="on">
<div class="{group_class("card_number")}">
<label class="label" for="card-number">{escape(t["card_number"])}</label>
<p class="hint" id="card-number-hint">{escape(t["card_number_hint"])}</p>
{_error_message("card-number", messages.get("card_number"), t)}<input class="input input--20" id="card-number" name="card_number" type="text" inputmode="numeric" autocomplete="cc-number" spellcheck="false"{_described_by("card-number-hint", error_id("card_number", "card-number"))}{invalid("card_number")}>
</div>
<div class="{group_class("expiry")}">
<fieldset class="fieldset"{_described_by("expiry-hint", error_id("expiry", "expiry-month"))}>
<legend class="fieldset__legend">{escape(t["expiry"])}</legend>
<p class="hint" id="expiry-hint">{escape(t["expiry_hint"])}</p>
{_error_message("expiry-month", messages.get("expiry"), t)}<div class="date-input">
<div class="date-input__item">
<label class="label" for="expiry-month">{escape(t["month"])}</label>
<input class="input input--2" id="expiry-month" name="expiry_month" type="text" inputmode="numeric" autocomplete="cc-exp-month" maxlength="2" value="{month}"{invalid("expiry")}>
</div>
<div class="date-input__item">
<label class="label" for="expiry-year">{escape(t["year"])}</label>
<input class="input input--4" id="expiry-year" name="expiry_year" type="text" inputmode="numeric" autocomplete="cc-exp-year" maxlength="4" value="{year}"{invalid("expiry")}>
</div>
</div>
</fieldset>
</div>
<div class="{group_class("cardholder_name")}">
<label class="label" for="cardholder-name">{escape(t["name"])}</label>
{_error_message("cardholder-name", messages.get("cardholder_name"), t)}<input class="input" id="cardholder-name" name="cardholder_name" type="text" autocomplete="cc-name" spellcheck="false" value="{name_value}"{_described_by(error_id("cardholder_name", "cardholder-name"))}{invalid("cardholder_name")}>
</div>
<div class="{group_class("security_code")}">
<label class="label" for="security-code">{escape(t["security_code"])}</label>
<p class="hint" id="security-code-hint">{escape(t["security_code_hint"])}</p>
{_error_message("security-code", messages.get("security_code"), t)}<input class="input input--4" id="security-code" name="security_code" type="text" inputmode="numeric" autocomplete="cc-csc" maxlength="4"{_described_by("security-code-hint", error_id("security_code", "security-code"))}{invalid("security_code")}>
</div>
<button class="button" type="submit">{escape(t["pay"])}</button>
</form>
<form method="post" action="{escape(cancel_action)}" class="cancel-form">
<button class="button button--secondary" type="submit">{escape(t["cancel"])}</button>
</form>
{test_card_help}"""
    return _layout(language, t["title"], main)


def challenge_page(*, language: str, action: str, amount: int) -> str:
    """The test bank's 3-D Secure challenge: two buttons, as a tester needs them."""
    t = _t(language)
    main = (
        f"<h1>{escape(t['challenge_title'])}</h1>\n"
        f"<p>{escape(t['challenge_body'].format(amount=format_amount(amount)))}</p>\n"
        f'<form method="post" action="{escape(action)}">\n'
        f'<button class="button" type="submit" name="answer" value="complete">{escape(t["challenge_complete"])}</button>\n'
        f'<button class="button button--secondary" type="submit" name="answer" value="fail">'
        f"{escape(t['challenge_fail'])}</button>\n</form>\n"
    )
    return _layout(language, t["challenge_title"], main)


def expired_page(*, language: str | None = None) -> str:
    """Shown for unknown, used and finished links alike, so it reveals nothing about
    a payment; no link back, because an unknown token has no service to go back to.
    An unknown link has no language: it is said in English and in Welsh."""
    t = _t(language or "en")
    main = (
        f"<h1>{escape(t['expired_title'])}</h1>\n"
        f"<p>{escape(t['expired_body'])}</p>\n"
        f"<p>{escape(t['expired_next'])}</p>\n"
    )
    if language is None:
        cy = _TEXT["cy"]
        main += (
            f'<div lang="cy">\n<h2>{escape(cy["expired_title"])}</h2>\n'
            f"<p>{escape(cy['expired_body'])}</p>\n<p>{escape(cy['expired_next'])}</p>\n</div>\n"
        )
    return _layout(language or "en", t["expired_title"], main)


STYLESHEET = """\
*, *::before, *::after { box-sizing: border-box; }
html { font-size: 100%; }
body {
  margin: 0; color: #0b0c0c; background: #f3f2f1;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  font-size: 1.1875rem; line-height: 1.35;
}
a { color: #1d70b8; }
a:visited { color: #4c2c92; }
a:focus, button:focus, input:focus, summary:focus {
  outline: 3px solid #ffdd00; outline-offset: 0; box-shadow: inset 0 0 0 2px #0b0c0c;
}
.skip-link { position: absolute; left: -9999px; top: 0; padding: 10px 15px; background: #ffdd00; color: #0b0c0c; }
.skip-link:focus { left: 0; }
.visually-hidden {
  position: absolute !important; width: 1px !important; height: 1px !important; margin: 0 !important;
  padding: 0 !important; overflow: hidden !important; clip: rect(0 0 0 0) !important; border: 0 !important;
  white-space: nowrap !important;
}
.banner { background: #0b0c0c; color: #fff; padding: 12px 20px; border-bottom: 8px solid #1d70b8; }
.banner__name { margin: 0 auto; max-width: 640px; font-weight: 700; }
.tag { display: inline-block; margin-left: 8px; padding: 2px 8px; background: #ffdd00; color: #0b0c0c;
  font-size: 0.875rem; letter-spacing: 0.05em; }
.page { display: block; max-width: 640px; margin: 0 auto; padding: 30px 20px 60px; background: #fff; }
h1 { font-size: 2rem; line-height: 1.1; margin: 0 0 30px; }
.summary { margin: 0 0 30px; border-top: 1px solid #b1b4b6; }
.summary__row { display: flex; flex-wrap: wrap; padding: 10px 0; border-bottom: 1px solid #b1b4b6; }
.summary dt { flex: 0 0 40%; font-weight: 700; margin: 0; }
.summary dd { flex: 1 1 55%; margin: 0; }
.summary__amount { font-weight: 700; }
.field { margin-bottom: 30px; }
.field--error { border-left: 5px solid #d4351c; padding-left: 15px; }
.fieldset { margin: 0; padding: 0; border: 0; }
.fieldset__legend { font-weight: 700; margin-bottom: 5px; padding: 0; }
.label { display: block; font-weight: 700; margin-bottom: 5px; }
.date-input__item .label { font-weight: 400; }
.hint { color: #505a5f; margin: 0 0 10px; }
.error-message { color: #d4351c; font-weight: 700; margin: 0 0 10px; }
.input {
  display: block; width: 100%; height: 2.5rem; padding: 5px; font: inherit;
  border: 2px solid #0b0c0c; border-radius: 0; background: #fff; color: #0b0c0c;
}
.input--20 { max-width: 23em; }
.input--4 { max-width: 5.4em; }
.input--2 { max-width: 3.6em; }
.field--error .input[aria-invalid="true"] { border-color: #d4351c; }
.date-input { display: flex; gap: 20px; }
.button {
  display: inline-block; margin: 0 0 20px; padding: 8px 12px; font: inherit; font-weight: 400;
  color: #fff; background: #00703c; border: 2px solid transparent; border-radius: 0;
  box-shadow: 0 2px 0 #002d18; cursor: pointer;
}
.button:hover { background: #005a30; }
.button--secondary { color: #0b0c0c; background: #f3f2f1; box-shadow: 0 2px 0 #929191; }
.button--secondary:hover { background: #dbdad9; }
.cancel-form { margin: 0 0 30px; }
.heading-m { font-size: 1.5rem; margin: 0 0 15px; }
.wallet-form { margin: 0 0 10px; }
.button--wallet { display: block; width: 100%; max-width: 23em; color: #fff; background: #0b0c0c; box-shadow: 0 2px 0 #505a5f; }
.button--wallet:hover { background: #383f43; }
.error-summary { margin-bottom: 30px; padding: 15px; border: 5px solid #d4351c; }
.error-summary:focus { outline: 3px solid #ffdd00; }
.error-summary__title { margin: 0 0 15px; font-size: 1.5rem; }
.error-summary__list { margin: 0; padding-left: 0; list-style: none; }
.error-summary__list a { color: #d4351c; font-weight: 700; }
.details summary { color: #1d70b8; cursor: pointer; text-decoration: underline; }
.table { width: 100%; border-collapse: collapse; margin-top: 15px; font-size: 1rem; }
.table th, .table td { text-align: left; padding: 8px 10px 8px 0; border-bottom: 1px solid #b1b4b6; }
@media (max-width: 40em) { h1 { font-size: 1.6rem; } .summary dt, .summary dd { flex-basis: 100%; } }
"""
