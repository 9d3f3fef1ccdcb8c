"""The compose files and prometheus.yml say what the guide says (parsed, no Docker engine needed); the psql command
docs/scaling.md gives for Grafana's database runs on the real PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from ..conftest import POSTGRES_URL, _admin_connection
from ..docs import code_blocks
from ..tools import require_tools, unavailable
from .generators import generator

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((MONITORING / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def prometheus_config() -> dict[str, Any]:
    return yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())  # type: ignore[no-any-return]


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host path of a service's volumes."""
    mounts = {}
    for volume in service["volumes"]:
        # From the right: a source may be ${VARIABLE:-default}.
        spec = volume.removesuffix(":ro").removesuffix(":rw").removesuffix(":ro,rslave")
        source, target = spec.rsplit(":", 1)
        mounts[target] = source
    return mounts


def test_names_from_the_guide(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["prometheus"]["container_name"] == "mks-prometheus"
    assert services["grafana"]["container_name"] == "mks-grafana"
    assert compose["networks"] == {"mks-monitoring": {"name": "mks-monitoring"}}
    assert {"mks-prometheus-data", "mks-grafana-data"} <= {volume["name"] for volume in compose["volumes"].values()}
    for name in ("prometheus", "grafana"):
        assert services[name]["networks"] == ["mks-monitoring"]
        assert services[name]["restart"] == "unless-stopped"
        assert services[name]["healthcheck"]["test"][0] == "CMD"


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        tag = image.rsplit(":", 1)[-1]
        assert ":" in image and tag not in ("latest", ""), name


def test_prometheus_retention_and_mounts(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert "--storage.tsdb.retention.time=${PROMETHEUS_RETENTION_TIME:-15d}" in prometheus["command"]
    assert "--storage.tsdb.retention.size=${PROMETHEUS_RETENTION_SIZE:-10GB}" in prometheus["command"]
    mounts = _mounts(prometheus)
    assert mounts["/prometheus"] == "mks-prometheus-data"
    # setup-monitoring.sh's copy (MKS_PROMETHEUS_CONFIG, remote_write added for MKS_REMOTE_WRITE_URL); the file else.
    assert mounts["/etc/prometheus/prometheus.yml"] == "${MKS_PROMETHEUS_CONFIG:-./prometheus/prometheus.yml}"
    # setup-monitoring.sh points MKS_RULES_DIR at the copies linking MKS_RUNBOOK_BASE_URL; the committed files else.
    for name in ("alert-rules.yml", "recording-rules.yml", "slo-rules.yml"):
        assert mounts[f"/etc/prometheus/{name}"] == f"${{MKS_RULES_DIR:-./prometheus}}/{name}"
    # The dependency jobs' targets files (MKS_EXPORTERS): setup-monitoring.sh's folder, empty until it writes one.
    assert mounts["/etc/prometheus/targets"] == "${MKS_TARGETS_DIR:-./.targets}"
    assert "host.docker.internal:host-gateway" in prometheus["extra_hosts"]
    for container_path, host_path in mounts.items():
        if host_path.startswith("./"):
            assert (MONITORING / host_path).exists(), container_path


def test_grafana_mounts_do_not_shadow_provisioning(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = _mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == "${MKS_DASHBOARDS_DIR:-./grafana/dashboards}"
    assert mounts["/var/lib/grafana"] == "mks-grafana-data"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == "/var/lib/grafana/dashboards/app-overview.json"
    assert (MONITORING / "grafana" / "dashboards" / "app-overview.json").exists()


def test_grafana_security_settings(compose: dict[str, Any]) -> None:
    environment = compose["services"]["grafana"]["environment"]
    assert environment["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert environment["GF_SECURITY_ADMIN_USER"] == "${GRAFANA_ADMIN_USER:-admin}"
    # No default password: compose refuses to start without one (setup-monitoring.sh generates it).
    assert environment["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert environment["GF_DATE_FORMATS_DEFAULT_TIMEZONE"] == "Asia/Tokyo"
    # The datasource's URL ($GRAFANA_PROMETHEUS_URL in its provisioning): the compose Prometheus by default.
    assert environment["GRAFANA_PROMETHEUS_URL"] == "${GRAFANA_PROMETHEUS_URL:-http://prometheus:9090}"


def test_ports_bind_loopback_by_default(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${MKS_BIND_ADDRESS:-127.0.0.1}:"), name


def test_optional_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["alertmanager"]["profiles"] == ["alertmanager"]
    assert services["node-exporter"]["profiles"] == ["node-exporter", "exporters"]
    for name in ("postgres-exporter", "redis-exporter", "nginx-exporter", "mtail", "blackbox-exporter"):
        assert services[name]["profiles"] == ["exporters"], name
    assert services["mks-backend"]["profiles"] == ["backend"]
    assert "profiles" not in services["prometheus"] and "profiles" not in services["grafana"]


@pytest.fixture(scope="module")
def grafana_postgres() -> dict[str, Any]:
    return yaml.safe_load((MONITORING / "docker-compose.grafana-postgres.yml").read_text())  # type: ignore[no-any-return]


GRAFANA_DB_PASSWORD = "${GRAFANA_DB_PASSWORD:?GRAFANA_DB_PASSWORD を .env に設定してください（docs/scaling.md）}"


def test_grafana_on_postgresql_is_an_override_that_only_adds_the_database(
    compose: dict[str, Any], grafana_postgres: dict[str, Any]
) -> None:
    """docker-compose.grafana-postgres.yml, given with -f after docker-compose.yml: compose merges its grafana into
    the file's (environment and depends_on by key, extra_hosts by entry), so the guide's names stay the file's."""
    assert sorted(grafana_postgres) == ["services", "volumes"]  # the project's name and network: the file's
    grafana = grafana_postgres["services"]["grafana"]
    assert sorted(grafana) == ["depends_on", "environment", "extra_hosts"]
    assert grafana["environment"] == {
        "GF_DATABASE_TYPE": "postgres",
        "GF_DATABASE_HOST": "${GRAFANA_DB_HOST:-grafana-db:5432}",
        "GF_DATABASE_NAME": "${GRAFANA_DB_NAME:-grafana}",
        "GF_DATABASE_USER": "${GRAFANA_DB_USER:-grafana}",
        # No default: compose refuses to start without one.
        "GF_DATABASE_PASSWORD": GRAFANA_DB_PASSWORD,
        "GF_DATABASE_SSL_MODE": "${GRAFANA_DB_SSL_MODE:-disable}",
    }
    # Added to the file's settings, none replaced.
    assert not set(grafana["environment"]) & set(compose["services"]["grafana"]["environment"])
    assert grafana["extra_hosts"] == ["host.docker.internal:host-gateway"]
    # Waits for the profile's database when it runs; starts without it on an existing PostgreSQL.
    assert grafana["depends_on"] == {"grafana-db": {"condition": "service_healthy", "required": False}}
    assert compose["services"]["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}


def test_profile_grafana_db_runs_grafanas_own_postgresql(
    compose: dict[str, Any], grafana_postgres: dict[str, Any]
) -> None:
    database = grafana_postgres["services"]["grafana-db"]
    assert "grafana-db" not in compose["services"]
    assert database["profiles"] == ["grafana-db"]
    assert (database["image"], database["container_name"], database["restart"]) == (
        "postgres:16.6",
        "mks-grafana-db",
        "unless-stopped",
    )
    # The database, user and password Grafana connects with.
    assert database["environment"] == {
        "POSTGRES_DB": "${GRAFANA_DB_NAME:-grafana}",
        "POSTGRES_USER": "${GRAFANA_DB_USER:-grafana}",
        "POSTGRES_PASSWORD": GRAFANA_DB_PASSWORD,
    }
    assert _mounts(database) == {"/var/lib/postgresql/data": "mks-grafana-db-data"}
    assert grafana_postgres["volumes"] == {"mks-grafana-db-data": {"name": "mks-grafana-db-data"}}
    assert database["networks"] == ["mks-monitoring"] and "mks-monitoring" in compose["networks"]
    assert database["healthcheck"]["test"] == [
        "CMD",
        "pg_isready",
        "-U",
        "${GRAFANA_DB_USER:-grafana}",
        "-d",
        "${GRAFANA_DB_NAME:-grafana}",
    ]
    assert "ports" not in database  # reached by Grafana on the compose network only


def scram_password_matches(verifier: str, password: str) -> bool:
    """Whether PostgreSQL's SCRAM-SHA-256 verifier (pg_authid.rolpassword) is that of the password (RFC 5802)."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier)
    assert match, verifier
    iterations, salt, stored_key = int(match[1]), base64.b64decode(match[2]), base64.b64decode(match[3])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


def test_the_documented_sql_creates_grafanas_role_and_database() -> None:
    """docs/scaling.md's psql command for an existing PostgreSQL, run as written on the real server (its role and
    database renamed for the test): a login role with no other power, owning a database it can create tables in."""
    require_tools("psql", packages="postgresql-client")
    heading = "Grafana のデータベースを PostgreSQL に"
    [block] = [block for block in code_blocks("scaling.md", heading, "bash") if "CREATE ROLE" in block]
    name = f"grafana_test_{os.getpid()}"
    command = block[block.index("sudo -u postgres psql") : block.index("\nSQL\n") + len("\nSQL\n")]
    url = make_url(POSTGRES_URL)
    command = re.sub(r"\bgrafana\b", name, command).replace(
        "sudo -u postgres psql", f"psql -X -h {url.host} -p {url.port or 5432} -U {url.username} -d {url.database}"
    )
    password = 'it\'s a "quoted" pass'
    env = {**os.environ, "GRAFANA_DB_PASSWORD": password} | ({"PGPASSWORD": url.password} if url.password else {})
    try:
        admin = _admin_connection()
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is unreachable: {exc}")
    try:
        ran = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        assert (ran.returncode, ran.stderr) == (0, ""), ran.stdout
        row = admin.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolpassword FROM pg_authid WHERE rolname = %s",
            (name,),
        ).fetchone()
        assert row is not None and row[:4] == (True, False, False, False), row
        assert scram_password_matches(row[4], password)
        owner = admin.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)).fetchone()
        assert owner == (name,)
        # What Grafana's migrations do first, as the role: a table in the public schema.
        with psycopg.connect(
            host=url.host, port=url.port or 5432, user=name, dbname=name, password=password, autocommit=True
        ) as grafana:
            grafana.execute("CREATE TABLE migration_log (id bigserial PRIMARY KEY, migration_id text NOT NULL)")
            assert grafana.execute("SELECT current_user, to_regclass('public.migration_log')::text").fetchone() == (
                name,
                "migration_log",
            )
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"DROP ROLE IF EXISTS {name}")
        admin.close()


def test_prometheus_config_as_the_guide(prometheus_config: dict[str, Any]) -> None:
    assert prometheus_config["global"]["scrape_interval"] == "15s"
    assert prometheus_config["global"]["evaluation_interval"] == "15s"
    jobs = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}
    backend = jobs["mks-backend"]
    assert backend["scrape_interval"] == "10s"
    assert backend["metrics_path"] == "/metrics"
    # The instances come from the targets file setup-monitoring.sh writes (MKS_TARGETS): one or several.
    assert backend["file_sd_configs"] == [{"files": ["/etc/prometheus/targets/mks-backend.yml"]}]
    assert "static_configs" not in backend
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["localhost:9090"]}]
    assert prometheus_config["rule_files"] == [
        "/etc/prometheus/recording-rules.yml",
        "/etc/prometheus/alert-rules.yml",
        "/etc/prometheus/slo-rules.yml",
    ]
    assert prometheus_config["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_the_dependencies_jobs_read_their_targets_from_one_file_each(
    compose: dict[str, Any], prometheus_config: dict[str, Any]
) -> None:
    """No target in the file: each job's comes from the targets file setup-monitoring.sh writes (MKS_EXPORTERS),
    so that without one a job has no `up` and ExporterDown cannot fire (test_exporter_targets.py writes them)."""
    jobs = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}
    dependencies = generator("rules").DEPENDENCY_JOBS
    assert [name for name, job in jobs.items() if "file_sd_configs" in job or name in dependencies] == [
        "mks-backend",
        *dependencies,
    ]
    for job in dependencies:
        assert jobs[job]["file_sd_configs"] == [{"files": [f"/etc/prometheus/targets/{job}.yml"]}], job
        assert "static_configs" not in jobs[job], job
    probe = jobs["blackbox"]
    assert (probe["metrics_path"], probe["params"]) == ("/probe", {"module": ["mks_http"]})
    assert probe["relabel_configs"] == [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": "blackbox-exporter:9115"},
    ]
    assert "blackbox-exporter" in compose["services"]
    modules = yaml.safe_load((MONITORING / "blackbox" / "blackbox.yml").read_text())["modules"]
    assert modules["mks_http"]["http"]["valid_status_codes"] == [200]
    assert _mounts(compose["services"]["blackbox-exporter"])["/etc/blackbox_exporter/blackbox.yml"] == (
        "./blackbox/blackbox.yml"
    )
    assert _mounts(compose["services"]["mtail"])["/etc/mtail"] == "./mtail"


def test_exporters_take_their_credentials_from_the_environment(compose: dict[str, Any]) -> None:
    """No address or secret of a dependency is fixed in the file: each is a ${VARIABLE:-default}."""
    for name in ("postgres-exporter", "redis-exporter"):
        for key, value in compose["services"][name]["environment"].items():
            assert re.fullmatch(r"\$\{[A-Z_]+:-[^}]*\}", value), (name, key)
    assert compose["services"]["postgres-exporter"]["environment"]["DATA_SOURCE_NAME"].startswith(
        "${POSTGRES_EXPORTER_DSN:-"
    )
    assert compose["services"]["redis-exporter"]["environment"]["REDIS_PASSWORD"] == "${REDIS_EXPORTER_PASSWORD:-}"


def test_a_second_backend_instance_shares_what_docs_scaling_says(compose: dict[str, Any]) -> None:
    """Profile backend-2: the same database, Redis and signing key as the first instance, the first's attachments,
    and an instance folder of its own (its workers' metrics are wiped at its start)."""
    first, second = compose["services"]["mks-backend"], compose["services"]["mks-backend-2"]
    assert second["profiles"] == ["backend-2"]
    shared = {
        "MKS_DATABASE_URL": "${MKS_DATABASE_URL:-}",
        "MKS_RATELIMIT_STORAGE_URI": "${MKS_RATELIMIT_STORAGE_URI:-memory://}",
        "MKS_JWT_SECRET_KEY": "${MKS_JWT_SECRET_KEY:-}",
    }
    for service in (first, second):
        assert {name: service["environment"][name] for name in shared} == shared
        assert service["environment"]["MKS_INSTANCE_PATH"] == "/data"
    assert _mounts(first)["/data"] == "mks-backend-data"
    assert _mounts(second) == {"/app": "..", "/data": "mks-backend-2-data", "/shared": "mks-backend-data"}
    assert "ln -sfn /shared/attachments /data/attachments" in second["command"][-1]
    assert second["ports"] == ["${MKS_BIND_ADDRESS:-127.0.0.1}:5101:5100"]
    assert "mks-backend-2-data" in compose["volumes"]


def test_victoria_metrics_is_an_optional_long_term_store(compose: dict[str, Any]) -> None:
    """Profile victoria-metrics: the version test_victoria_metrics.py runs (Debian's), a year of history in a volume
    of its own, on the stack's network (Prometheus writes to http://victoria-metrics:8428), loopback only."""
    service = compose["services"]["victoria-metrics"]
    assert service["profiles"] == ["victoria-metrics"]
    assert service["image"] == "victoriametrics/victoria-metrics:v1.79.5"
    assert service["command"] == [
        "-storageDataPath=/storage",
        "-retentionPeriod=${VICTORIA_METRICS_RETENTION_PERIOD:-12}",
    ]
    assert _mounts(service) == {"/storage": "mks-victoria-metrics-data"}
    assert compose["volumes"]["mks-victoria-metrics-data"] == {"name": "mks-victoria-metrics-data"}
    assert service["networks"] == ["mks-monitoring"]
    assert service["ports"] == ["${MKS_BIND_ADDRESS:-127.0.0.1}:8428:8428"]
