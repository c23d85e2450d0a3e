"""Every example in docs/api.md works as written, against what `make run` serves (the ECS
simulator's sample cases, the sandbox provider): the `penaltypay api-client` commands are
run as printed, and each curl of the worked example is sent with its method, path, headers
and body, and answers the status the document says, with the fields it shows."""

from __future__ import annotations

import io
import json
import re
import shlex
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from penaltypay.payments import records

pytestmark = pytest.mark.django_db(transaction=True)

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def sh_blocks() -> list[list[str]]:
    """Each ```sh block's commands, as the shell reads them (a backslash-newline or a quote
    left open joins the next line); comments kept as their own lines."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S):
        lines: list[str] = []
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if lines and not lines[-1].lstrip().startswith("#") and lines[-1].count("'") % 2:
                lines[-1] += " " + line.strip()
            else:
                lines.append(line)
        found.append(lines)
    return found


def flat(answer):
    """Every (key, scalar value) in a JSON answer, however deep."""
    if isinstance(answer, dict):
        for key, value in answer.items():
            if isinstance(value, (dict, list)):
                yield from flat(value)
            else:
                yield key, value
    elif isinstance(answer, list):
        for item in answer:
            yield from flat(item)


def run_penaltypay(line: str) -> str:
    argv = shlex.split(line.split("#")[0])
    assert argv[0] == "penaltypay"
    out = io.StringIO()
    call_command(argv[1].replace("-", "_"), *argv[2:], stdout=out)
    return out.getvalue()


def curl(client: Client, line: str, names: dict[str, str]):
    for name, value in names.items():
        line = line.replace(name, value)
    words = shlex.split(line)
    method, headers, body, url = "GET", {}, None, ""
    words = iter(words[1:])
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            key, _, value = next(words).partition(": ")
            headers[f"HTTP_{key.upper().replace('-', '_')}"] = value
        elif word == "-d":
            body = next(words)
        elif word.startswith("http"):
            url = word
    path = url.split("127.0.0.1:8000", 1)[1]
    content_type = headers.pop("HTTP_CONTENT_TYPE", "application/json")
    if method == "POST":
        return client.post(path, data=body, content_type=content_type, **headers)
    return client.get(path, **headers)


def test_the_api_client_commands_run_as_written():
    (commands,) = [block for block in sh_blocks() if any(line.startswith("penaltypay api-client") for line in block)]
    added = json.loads(run_penaltypay(commands[0]))
    assert added["name"] == "telephony" and added["token"].startswith("ppk_")
    assert [c["name"] for c in json.loads(run_penaltypay(commands[2]))] == ["telephony"]
    run_penaltypay(commands[3])
    assert Client().get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {added['token']}").status_code == 401


def test_the_worked_example_answers_as_the_document_says(ecs, provider, settings):
    settings.API_LIST_SETTLE_SECONDS = 0
    settings.PAYMENT_RECHECK_AFTER_SECONDS = 0
    settings.ECS_RESPECT_BATCH_WINDOW = False
    (example,) = [block for block in sh_blocks() if any(line.startswith("TOKEN=") for line in block)]
    (setup,) = [block for block in sh_blocks() if any(line.startswith("penaltypay api-client") for line in block)]
    token = json.loads(run_penaltypay(setup[0]))["token"]
    names = {"$BASE": "http://127.0.0.1:8000/api/v1", "$TOKEN": token, "$(uuidgen)": ""}
    client = Client()
    answers = []
    for n, line in enumerate(example):
        if not line.startswith("curl "):
            continue
        names["$(uuidgen)"] = str(uuid.uuid4())
        if "<payment_reference>" in line:  # "after the payer comes back": they paid on the card page
            paid = records.payment(names["<payment_reference>"])
            provider.complete(paid.provider_payment_id, "4444333322221111")
            call_command("worker", "--once", stdout=io.StringIO())  # settles it, and delivers it to ECS
        said = re.match(r"# (\d{3}) (\{.*)", example[n + 1])
        assert said, f"no answer written under: {line}"
        response = curl(client, line, names)
        assert response.status_code == int(said.group(1)), (line, response.content[:500])
        answer = response.json()
        for field in re.findall(r'"(\w+)":', said.group(2)):  # the fields it shows
            assert field in json.dumps(answer), (line, field)
        pairs = set(flat(answer))
        for key, value in re.findall(r'"(\w+)": ("[^"…]*"|-?\d+|true|false|null)(?=[,}])', said.group(2)):
            assert (key, json.loads(value)) in pairs, (line, key, value)
        answers.append(answer)
        if "payment_reference" in answer:
            names.setdefault("<payment_reference>", answer["payment_reference"])
        if answer.get("next_cursor"):
            names["WyIy…"] = answer["next_cursor"]
    assert len(answers) == 6
