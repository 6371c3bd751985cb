"""docker-compose.yml read as the product reads it, without a Docker engine (the build machines have none): every
variable the worker and web services get is one their settings know, every setting production needs is given,
secrets come as files, and what the Temporal jobs, Prometheus and Grafana are told matches the code and the files
in deploy/. Pure and fast."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from complaints.temporal_server import search_attribute_flags
from starter.settings import Settings, setting_variables
from web.settings import WebSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"

TEMPORAL_ENVCONFIG = {
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
}
"""What `starter.connection.connect_temporal` reads through `temporalio.envconfig`, beside the settings object."""

SETTINGS_OF: dict[str, type[BaseSettings]] = {"worker": Settings, "web": WebSettings, "mail-ingress": Settings}
"""The settings object each product service reads (`complaints worker`, `complaints web`, `... mail-ingress`)."""

COMMANDS = {
    "worker": ["complaints", "worker"],
    "web": ["complaints", "web", "--host", "0.0.0.0", "--port", "8000"],
    "mail-ingress": ["complaints", "mail-ingress"],
}

REQUIRED: dict[str, list[tuple[str, ...]]] = {
    "worker": [
        ("DATABASE_URL", "DATABASE_URL_FILE"),
        ("TEMPORAL_ADDRESS",),
        ("COMPLAINTS_ENCRYPTION_KEYS", "COMPLAINTS_ENCRYPTION_KEYS_FILE", "COMPLAINTS_KEY_FILE"),
        ("COMPLAINTS_METRICS_ADDRESS",),
        ("COMPLAINTS_CASE_LINK_KEY", "COMPLAINTS_CASE_LINK_KEY_FILE"),
        ("COMPLAINTS_PUBLIC_URL",),
    ],
}
REQUIRED["web"] = [
    *REQUIRED["worker"][:3],
    ("COMPLAINTS_SESSION_SECRET", "COMPLAINTS_SESSION_SECRET_FILE"),
    ("COMPLAINTS_ALLOWED_HOSTS",),
    ("COMPLAINTS_METRICS_TOKEN", "COMPLAINTS_METRICS_TOKEN_FILE"),
    ("COMPLAINTS_TEMPORAL_UI",),
    ("COMPLAINTS_CASE_LINK_KEY", "COMPLAINTS_CASE_LINK_KEY_FILE"),
    ("COMPLAINTS_PUBLIC_URL",),
]
REQUIRED["mail-ingress"] = [*REQUIRED["worker"][:3], ("COMPLAINTS_MAIL_INGRESS_ADDRESS",)]
"""Settings production cannot do without (each tuple: one of them): unset, a worker has no database, no cluster
or no keys, a web app makes a session secret of its own per process or answers only `localhost`, and each process
makes a case link key of its own (the portal refuses every link a worker signed) or links to `localhost`."""

INLINE_SECRET = re.compile(r"PASSWORD|PASSWD|PWD|SECRET|TOKEN|ENCRYPTION_KEYS")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def environment_of(compose: dict[str, Any], service: str) -> dict[str, str]:
    environment = compose["services"][service].get("environment", {})
    assert isinstance(environment, dict), f"{service}: environment as a mapping"
    return {str(name): str(value) for name, value in environment.items()}


def known_variables(service: str) -> set[str]:
    return setting_variables(SETTINGS_OF[service]) | TEMPORAL_ENVCONFIG


def unknown_variables(compose: dict[str, Any], service: str) -> set[str]:
    return set(environment_of(compose, service)) - known_variables(service)


def missing_settings(compose: dict[str, Any], service: str) -> list[tuple[str, ...]]:
    given = environment_of(compose, service)
    missing = [choices for choices in REQUIRED[service] if not any(given.get(name) for name in choices)]
    url = given.get("DATABASE_URL", "")
    password = ("COMPLAINTS_DATABASE_PASSWORD", "COMPLAINTS_DATABASE_PASSWORD_FILE")
    if url and urlsplit(url).password is None and not any(given.get(name) for name in password):
        missing.append(password)  # the URL names only the user, and no password comes apart
    return missing


@pytest.mark.parametrize("service", sorted(SETTINGS_OF))
def test_every_variable_a_product_service_gets_is_a_setting_it_reads(compose: dict[str, Any], service: str) -> None:
    assert unknown_variables(compose, service) == set()


@pytest.mark.parametrize("service", sorted(SETTINGS_OF))
def test_every_setting_production_needs_is_given(compose: dict[str, Any], service: str) -> None:
    assert missing_settings(compose, service) == []


def test_an_unknown_variable_or_a_missing_setting_is_caught(compose: dict[str, Any]) -> None:
    """The two checks above bite: a variable no settings object reads, and a required one taken away."""
    web = compose["services"]["web"]
    broken = {
        "services": {
            "web": {**web, "environment": {**web["environment"], "COMPLAINTS_SESION_SECRET_FILE": "/x"}},
        }
    }
    assert unknown_variables(broken, "web") == {"COMPLAINTS_SESION_SECRET_FILE"}
    del broken["services"]["web"]["environment"]["COMPLAINTS_SESSION_SECRET_FILE"]
    assert missing_settings(broken, "web") == [("COMPLAINTS_SESSION_SECRET", "COMPLAINTS_SESSION_SECRET_FILE")]


def test_the_product_services_run_the_documented_commands_and_two_workers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for service, command in COMMANDS.items():
        assert services[service]["command"] == command
    assert services["worker"]["deploy"]["replicas"] == 2


def test_worker_web_and_mail_ingress_share_one_key_ring_and_one_database(compose: dict[str, Any]) -> None:
    worker = environment_of(compose, "worker")
    for other in ("web", "mail-ingress"):
        for name in ("DATABASE_URL", "COMPLAINTS_DATABASE_PASSWORD_FILE", "COMPLAINTS_ENCRYPTION_KEYS_FILE"):
            assert worker[name] == environment_of(compose, other)[name], (other, name)


def test_the_workers_sign_portal_links_the_web_app_opens(compose: dict[str, Any]) -> None:
    """One key file and one public address for the links in customers' letters, and the web app answers the host
    name those links carry (by default: a changed COMPLAINTS_PUBLIC_URL needs COMPLAINTS_PUBLIC_HOSTS too)."""
    worker, web = environment_of(compose, "worker"), environment_of(compose, "web")
    for name in ("COMPLAINTS_CASE_LINK_KEY_FILE", "COMPLAINTS_PUBLIC_URL"):
        assert worker[name] == web[name], name
    assert "case_link_key" in compose["services"]["worker"]["secrets"]
    assert "case_link_key" in compose["services"]["web"]["secrets"]
    public_url = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", web["COMPLAINTS_PUBLIC_URL"])
    allowed = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", web["COMPLAINTS_ALLOWED_HOSTS"]).split(",")
    assert urlsplit(public_url).hostname in allowed, (public_url, allowed)


def test_the_mail_ingress_listens_on_every_interface_of_its_container(compose: dict[str, Any]) -> None:
    """Its published port (loopback by default, like every other) reaches it only if it listens beyond 127.0.0.1."""
    ingress = compose["services"]["mail-ingress"]
    assert environment_of(compose, "mail-ingress")["COMPLAINTS_MAIL_INGRESS_ADDRESS"] == "0.0.0.0:2525"
    assert [str(port).rsplit(":", 1)[1] for port in ingress["ports"]] == ["2525"]


def test_secrets_are_files_mounted_from_compose_secrets_never_inline(compose: dict[str, Any]) -> None:
    declared = compose["secrets"]
    assert all(set(source) == {"file"} for source in declared.values())
    for name, service in compose["services"].items():
        mounted = set(service.get("secrets", []))
        assert mounted <= set(declared), name
        for variable, value in environment_of(compose, name).items():
            if variable.endswith("_FILE") and str(value).startswith("/run/secrets/"):
                assert str(value).removeprefix("/run/secrets/") in mounted, f"{name}: {variable}"
            else:
                assert not INLINE_SECRET.search(variable), f"{name}: {variable} inline"
        assert urlsplit(environment_of(compose, name).get("DATABASE_URL", "")).password is None, name


def test_published_ports_listen_where_the_operator_says_loopback_by_default(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("${COMPLAINTS_BIND:-127.0.0.1}:"), f"{name}: {port}"


def test_long_running_services_have_health_checks(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if service.get("restart", "no") != "no" and not str(service.get("restart")).startswith("on-failure"):
            assert "healthcheck" in service, name


def test_the_namespace_job_registers_exactly_the_workflows_search_attributes(compose: dict[str, Any]) -> None:
    listed = environment_of(compose, "temporal-namespace")["COMPLAINTS_SEARCH_ATTRIBUTES"].split()
    assert listed == search_attribute_flags()[1::2]


def test_env_example_lists_every_interpolated_variable(compose: dict[str, Any]) -> None:
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text(encoding="utf-8")))
    example = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    listed = [line.split("=", 1)[0] for line in example if line and not line.startswith("#")]
    assert sorted(listed) == sorted(interpolated)
    for index, line in enumerate(example):
        if line and not line.startswith("#"):
            assert example[index - 1].startswith("#"), f"{line}: a comment above it"


def test_grafana_runs_only_with_prometheus_pinned_signed_in_and_with_a_secret_admin_password(
    compose: dict[str, Any],
) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["profiles"] == compose["services"]["prometheus"]["profiles"] == ["observability"]
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", grafana["image"])
    environment = environment_of(compose, "grafana")
    assert environment["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert environment["GF_USERS_ALLOW_SIGN_UP"] == "false"


def test_grafana_is_provisioned_from_deploy_with_the_compose_prometheus(compose: dict[str, Any]) -> None:
    """The mounts, the provider's path and the data source's address agree with the files and services."""
    grafana = compose["services"]["grafana"]
    mounts = dict(str(volume).removesuffix(":ro").split(":", 1) for volume in grafana["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/complaints.yml").read_text(encoding="utf-8")
    )["providers"]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    home = environment_of(compose, "grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "deploy/grafana/dashboards" / Path(home).relative_to(provider["options"]["path"])).is_file()
    (source,) = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    address = urlsplit(source["url"])
    prometheus = compose["services"]["prometheus"]
    assert address.hostname in compose["services"] and address.hostname == "prometheus"
    assert any(str(port).endswith(f":{address.port}") for port in prometheus["ports"])
    assert grafana["depends_on"]["prometheus"] == {"condition": "service_healthy"}
