"""The Containerfile, compose.yaml and the Kubernetes manifests cannot silently rot: every
command they run is a real `penaltypay` command of this version with options it accepts,
every setting they pass is one the service reads, and the production settings check
accepts their environment. (Images are not built here: no container daemon.)"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parents[2]
PENALTYPAY = [sys.executable, "-m", "penaltypay.cli"]
# Read by Python, the platform or the image itself rather than by settings.py.
OTHER_KNOWN = {
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PATH",
    "DJANGO_SETTINGS_MODULE",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}


def settings_read_from_environment() -> set[str]:
    names = set()
    for source in (ROOT / "penaltypay").rglob("*.py"):
        names |= set(re.findall(r"environ(?:\.get|\.setdefault)?[(\[]\"([A-Z0-9_]+)\"", source.read_text()))
    return names | OTHER_KNOWN


def assert_real_command(argv: list[str]) -> None:
    """`penaltypay NAME --options…`: NAME exists and its own parser accepts the options."""
    assert argv[0] == "penaltypay", argv
    name = argv[1].replace("-", "_")
    commands = get_commands()
    assert name in commands, f"`penaltypay {argv[1]}` is not a command of this version"
    parser = load_command_class(commands[name], name).create_parser("penaltypay", name)
    parser.parse_args(argv[2:])  # exits (fails the test) on an option the command does not take


def fill_in(name: str) -> str:
    """A value an operator would give, for the production check."""
    if name == "ALLOWED_HOSTS":
        return "pay-penalty.service.gov.uk"
    if name == "STAFF_ALLOWED_NETWORKS":
        return "10.20.0.0/16"
    if name == "STAFF_EMAIL_DOMAINS":
        return "example.gov.uk"
    if name.endswith("_URL") and name not in ("DATABASE_URL", "REDIS_URL"):
        return "https://pay-penalty.service.gov.uk"
    if name == "DATABASE_URL":
        return "postgres://penaltypay:pw@db.internal:5432/penaltypay"
    if name == "REDIS_URL":
        return "redis://cache.internal:6379/0"
    return secrets.token_urlsafe(50)


def production_check(environment: dict[str, str]) -> None:
    # Only what the artefact gives (and a PATH): nothing of this test process's own
    # environment (the browser tests set variables production must never have).
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **environment}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(ROOT / "var" / "prometheus-check")
    result = subprocess.run(
        [*PENALTYPAY, "check", "--deploy", "--fail-level", "WARNING"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]


# --- Containerfile ------------------------------------------------------------------------


def containerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Containerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_image_is_multi_stage_non_root_runtime_only_and_healthchecked():
    instructions = containerfile()
    assert sum(1 for op, _ in instructions if op == "FROM") >= 2
    copies = " ".join(arg for op, arg in instructions if op == "COPY")
    assert "standins" not in copies and "requirements-dev" not in copies and "tests" not in copies
    assert "requirements.lock" in copies
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    (healthcheck,) = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert "collectstatic" in " ".join(arg for op, arg in instructions if op == "RUN")
    cmd = [arg for op, arg in instructions if op == "CMD"][-1]
    assert_real_command(yaml.safe_load(cmd))
    environment = dict(
        part.split("=", 1) for op, arg in instructions if op == "ENV" for part in arg.split() if "=" in part
    )
    assert set(environment) <= settings_read_from_environment()


# --- compose.yaml -------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def substituted(value: str) -> str:
    """${NAME:?…} and ${NAME:-default} as `docker compose` fills them from .env."""

    def one(match: re.Match) -> str:
        name, op, default = match.group(1), match.group(2), match.group(3)
        return default if op == ":-" else fill_in(name)

    return re.sub(r"\$\{(\w+)(:\?|:-)([^}]*)\}", one, str(value))


def test_compose_runs_real_commands_with_real_settings_that_pass_the_production_check():
    services = compose()["services"]
    ours = {name: s for name, s in services.items() if "penaltypay" in str(s.get("image", ""))}
    assert {"web", "worker", "migrate"} <= set(ours) and {"db", "redis"} <= set(services)
    known = settings_read_from_environment()
    for name, service in ours.items():
        assert_real_command(service["command"])
        assert set(service["environment"]) <= known, f"{name}: {set(service['environment']) - known}"
    environment = {k: substituted(v) for k, v in ours["web"]["environment"].items()}
    production_check(environment)


# --- Kubernetes -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed here: the Kubernetes manifests were not rendered (kubectl kustomize)")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy/k8s/overlays/production")], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def containers(manifests: list[dict]) -> list[tuple[str, dict]]:
    found = []
    for doc in manifests:
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                found.append((f"{doc['kind']}/{doc['metadata']['name']}", container))
    return found


def test_the_manifests_have_what_a_release_needs(manifests):
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in manifests}
    assert {
        ("Deployment", "penaltypay-web"),
        ("Deployment", "penaltypay-worker"),
        ("Job", "penaltypay-migrate"),
        ("Service", "penaltypay-web"),
        ("HorizontalPodAutoscaler", "penaltypay-web"),
        ("PodDisruptionBudget", "penaltypay-web"),
        ("NetworkPolicy", "penaltypay-web"),
        ("NetworkPolicy", "penaltypay-worker"),
        ("NetworkPolicy", "penaltypay-migrate"),
    } <= kinds
    (web,) = [c for name, c in containers(manifests) if name == "Deployment/penaltypay-web"]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for _, container in containers(manifests):
        assert container["securityContext"]["runAsNonRoot"] is True


def test_the_manifests_run_real_commands_with_real_settings_from_configmap_and_secrets(manifests):
    (config,) = [doc for doc in manifests if doc["kind"] == "ConfigMap"]
    known = settings_read_from_environment()
    assert set(config["data"]) <= known, set(config["data"]) - known
    secret_names: set[str] = set()
    for name, container in containers(manifests):
        assert_real_command(container["args"])
        assert [ref["configMapRef"]["name"] for ref in container["envFrom"]] == [config["metadata"]["name"]]
        for variable in container["env"]:
            assert "value" not in variable, f"{name}: {variable['name']} is inlined, not from a Secret"
            assert variable["valueFrom"]["secretKeyRef"]["name"] == "penaltypay-secrets"
            secret_names.add(variable["name"])
    assert secret_names <= known
    production_check({**config["data"], **{name: fill_in(name) for name in secret_names}})


# --- two database roles, locked-down pods ------------------------------------------------------


def test_compose_migrates_as_the_owner_and_runs_as_the_app_role():
    services = compose()["services"]
    user = {
        name: re.match(r"postgres://(\w+):", services[name]["environment"]["DATABASE_URL"]).group(1)
        for name in ("migrate", "web", "worker")
    }
    assert user == {"migrate": "penaltypay_owner", "web": "penaltypay_app", "worker": "penaltypay_app"}
    assert services["migrate"]["environment"]["DATABASE_APP_ROLE"] == "penaltypay_app"
    assert "DATABASE_APP_ROLE" not in services["web"]["environment"]
    passwords = {
        name: re.search(r"\$\{(\w+)", services[name]["environment"]["DATABASE_URL"]).group(1)
        for name in ("migrate", "web")
    }
    assert passwords["migrate"] != passwords["web"]  # separate secrets
    mounts = " ".join(services["db"]["volumes"])
    assert "init-roles.sh:/docker-entrypoint-initdb.d/" in mounts and "roles.sql" in mounts
    example = (ROOT / "deploy/compose.env.example").read_text()
    assert all(f"\n{name}=" in example for name in passwords.values())


def test_every_pod_is_locked_down_and_only_the_migration_job_holds_the_owner(manifests):
    owner_keys, app_keys = set(), set()
    for doc in manifests:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, doc["metadata"]["name"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            (database,) = [v for v in container["env"] if v["name"] == "DATABASE_URL"]
            key = database["valueFrom"]["secretKeyRef"]["key"]
            (owner_keys if doc["kind"] == "Job" else app_keys).add(key)
    assert owner_keys == {"DATABASE_MIGRATION_URL"} and app_keys == {"DATABASE_URL"}
    (config,) = [doc for doc in manifests if doc["kind"] == "ConfigMap"]
    assert config["data"]["DATABASE_APP_ROLE"] == "penaltypay_app"
    assert config["data"]["STAFF_ALLOWED_NETWORKS"]


# --- connections at the most pods the manifests allow -------------------------------------------


def _budget(*args: str) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run(
        [sys.executable, "scripts/connection-budget", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_the_most_pods_the_manifests_allow_fit_postgresqls_default_connections_with_room():
    done = _budget()
    assert done.returncode == 0, done.stdout + done.stderr
    figures = dict(line.rsplit(None, 1) for line in done.stdout.splitlines()[:9])
    assert figures["web connections"] == "70" and figures["worker connections"] == "15"  # the runbook's sum
    assert "fits, with 6 to spare" in done.stdout


def test_a_database_too_small_for_the_manifests_is_named_with_the_figures():
    done = _budget("--max-connections", "80")
    assert done.returncode == 1
    assert "DOES NOT FIT: 91 connections at the most pods the manifests allow, 77 available" in done.stdout


def test_the_web_pod_drains_before_it_stops_within_its_grace_period():
    web = yaml.safe_load((ROOT / "deploy/k8s/base/web-deployment.yaml").read_text())["spec"]["template"]["spec"]
    (container,) = web["containers"]
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["penaltypay", "drain"]
    assert_real_command(container["lifecycle"]["preStop"]["exec"]["command"])
    config = yaml.safe_load((ROOT / "deploy/k8s/base/kustomization.yaml").read_text())
    literals = dict(v.split("=", 1) for v in config["configMapGenerator"][0]["literals"])
    drain, graceful = float(literals["WEB_DRAIN_SECONDS"]), float(literals["WEB_GRACEFUL_SECONDS"])
    assert drain + graceful < web["terminationGracePeriodSeconds"]
    assert literals["PENALTYPAY_DRAIN_FILE"].startswith("/tmp/")  # the one writable place in the pod
