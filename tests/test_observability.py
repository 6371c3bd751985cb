"""What operators get in deploy/: the Grafana dashboard and the Prometheus alert rules query only metrics the
product exports, the dashboard is one Grafana loads through the provisioned data source, and the rules cover the
failures the product promises to page on. Fast; promtool (installed by scripts/test.sh) parses the dashboard's
queries here, and checks the rules and shows them firing (deploy/prometheus/alerts_test.yml) in scripts/test.sh."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import temporalio.bridge
import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy/grafana/dashboards/complaints.json"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml"
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
ALERTS_TEST = ROOT / "deploy/prometheus/alerts_test.yml"
METRIC_SOURCES = ("activities/metrics.py", "web/metrics.py")

SHOWN = {
    "complaints_started_total",
    "complaints_actions_total",
    "complaints_escalations_total",
    "complaints_breaches_total",
    "complaints_activity_failures_total",
    "complaints_outbox_pending",
    "complaints_web_requests_total",
    "complaints_web_request_duration_seconds_bucket",
}
"""What the dashboard must show at least: intake, work, the clocks, failures, the mail backlog, the web app."""

PAGED = {
    "ComplaintsWorkerAbsent",
    "ComplaintsWebAbsent",
    "ComplaintsActivityFailures",
    "ComplaintsOutboxBacklog",
    "ComplaintsBreachesRising",
    "ComplaintsWebErrors",
}
"""The failures an operator is told about (issue 15): no worker, no web process, failing activities, mail not
going out, deadlines missed faster than usual, server errors."""


def exported_metrics() -> set[str]:
    """Every series name the product's own metrics produce: counters get `_total`, histograms their parts."""
    exported: set[str] = set()
    for source in METRIC_SOURCES:
        for name in re.findall(r'"(complaints_[a-z_]+)"', (ROOT / source).read_text(encoding="utf-8")):
            exported |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return exported


def metric_names(text: str, prefix: str) -> set[str]:
    return set(re.findall(rf"\b({prefix}_[a-z_]*[a-z])\b", text))


@cache
def sdk_core() -> bytes:
    """The Temporal SDK's compiled core, which names every `temporal_*` metric the worker exports."""
    (binary,) = Path(temporalio.bridge.__file__).parent.glob("temporal_sdk_bridge*")
    return binary.read_bytes()


def temporal_metric_known(name: str) -> bool:
    """`temporal_X[_seconds][_bucket|_count|_sum|_total]` is exported when the core names X (the worker's
    PrometheusConfig adds the prefix, the unit and the counter suffix: worker.py)."""
    base = re.sub(r"(_seconds)?(_bucket|_count|_sum|_total)?$", "", name.removeprefix("temporal_"))
    return base.encode() in sdk_core()


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def queries(dashboard: dict[str, Any]) -> list[str]:
    return [str(target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_queries_only_metrics_the_product_exports(dashboard: dict[str, Any]) -> None:
    used = metric_names("\n".join(queries(dashboard)), "complaints")
    assert used <= exported_metrics()
    assert used >= SHOWN


def test_the_dashboard_queries_only_temporal_metrics_the_sdk_exports(dashboard: dict[str, Any]) -> None:
    used = metric_names("\n".join(queries(dashboard)), "temporal")
    assert used and all(temporal_metric_known(name) for name in used), used
    assert not temporal_metric_known("temporal_workflow_task_schedule_to_stert_latency_seconds_bucket")


GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "24h"}
"""Grafana's own variables, which Prometheus never sees: replaced by a value of their kind to parse the queries."""


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian's prometheus: scripts/test.sh)")
def test_every_dashboard_query_is_promql_prometheus_parses(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """Each query as a recording rule, which `promtool check rules` parses: a typo fails here, not on a screen."""
    rules = []
    for index, expr in enumerate(queries(dashboard)):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_shows_whether_workers_and_web_processes_are_up(dashboard: dict[str, Any]) -> None:
    joined = "\n".join(queries(dashboard))
    assert 'up{job="worker"}' in joined and 'up{job="web"}' in joined


def test_the_dashboard_is_one_grafana_loads_through_the_provisioned_data_source(dashboard: dict[str, Any]) -> None:
    (source,) = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    reference = {"type": source["type"], "uid": source["uid"]}
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"])
    assert dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    panels = dashboard["panels"]
    assert panels and len({panel["id"] for panel in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["type"] and panel["title"], panel["id"]
        assert panel["datasource"] == reference, panel["title"]
        targets = panel["targets"]
        assert targets and len({target["refId"] for target in targets}) == len(targets), panel["title"]
        assert all(target["expr"] and target["datasource"] == reference for target in targets), panel["title"]
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_alert_rules_use_metrics_the_product_exports() -> None:
    rules = ALERTS.read_text(encoding="utf-8")
    used = metric_names(rules, "complaints")
    assert used and used <= exported_metrics()
    groups = yaml.safe_load(rules)["groups"]
    assert all(rule["alert"] and rule["expr"] for group in groups for rule in group["rules"])


def test_alert_rules_cover_the_failures_operators_are_told_about() -> None:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= PAGED
    for rule in rules:
        assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_the_rule_tests_name_alerts_that_exist() -> None:
    """promtool passes a test that expects no alert from a rule that does not exist: the names must be real."""
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    defined = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    assert tests["rule_files"] == [ALERTS.name]
    named = {check["alertname"] for test in tests["tests"] for check in test["alert_rule_test"]}
    assert named <= defined
    fired = {check["alertname"] for test in tests["tests"] for check in test["alert_rule_test"] if check["exp_alerts"]}
    assert fired >= PAGED - {"ComplaintsWebAbsent"}  # the web app's absence is the worker's rule on another job
