"""Static checks of the deployment files: docker-compose.yml, Dockerfile and .dockerignore.

No Docker engine is needed: the files are parsed and checked against the settings module, the CLI and each
other (what `docker compose config` would reject, plus the KRaft and wiring mistakes it would not). The image's
HEALTHCHECK command is run for real against a local HTTP server.
"""

from __future__ import annotations

import base64
import fnmatch
import http.server
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import typer

from streams.settings import Settings, env_names, faust_app_kwargs
from streams.topics import bootstrap_servers

yaml = pytest.importorskip("yaml", reason="PyYAML (dev extra) reads docker-compose.yml")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

#: Top-level keys of the Compose specification (plus x-* extensions).
COMPOSE_TOP_LEVEL = {
    "name",
    "version",
    "services",
    "networks",
    "volumes",
    "configs",
    "secrets",
    "include",
    "models",
}
#: Security protocols Kafka knows; Faust connects with PLAINTEXT unless given SSL/SASL settings.
KAFKA_PROTOCOLS = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}


# --- parsing helpers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as {name: value}; None = passed through from the host (`NAME` / `NAME:`)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out: dict[str, str | None] = {}
        for item in env:
            name, sep, value = str(item).partition("=")
            out[name] = value if sep else None
        return out
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """``"CONTROLLER://:29093,PLAINTEXT://broker:19092"`` -> ``{"CONTROLLER": ("", 29093), ...}``."""
    out = {}
    for item in value.split(","):
        name, sep, address = item.strip().partition("://")
        assert sep, f"listener {item!r} is not NAME://host:port"
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def protocol_map(value: str) -> dict[str, str]:
    return dict(item.strip().split(":", 1) for item in value.split(","))


def port_mappings(service: dict[str, Any]) -> list[tuple[int | None, int]]:
    """Short-syntax ``ports`` entries as (host port or None, container port); a host range ``6066-6069`` gives
    its first port (the one a single replica takes)."""
    out = []
    for entry in service.get("ports", []):
        parts = str(entry).split("/")[0].split(":")
        host = parts[-2].split("-")[0] if len(parts) > 1 else ""
        out.append((int(host) if host else None, int(parts[-1])))
    return out


def host_interfaces(service: dict[str, Any]) -> list[str | None]:
    """The host address of each published port (None: every interface)."""
    out: list[str | None] = []
    for entry in service.get("ports", []):
        parts = str(entry).split("/")[0].split(":")
        out.append(parts[0] if len(parts) == 3 else None)
    return out


def test_every_published_port_is_bound_to_loopback(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        assert all(address == "127.0.0.1" for address in host_interfaces(service)), name


def test_workers_scale_out(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """`--scale worker=N`: no fixed host port (a range), and each replica advertises its own address."""
    worker = services(compose)["worker"]
    for entry in worker.get("ports", []):
        host_port = str(entry).split(":")[-2]
        first, _, last = host_port.partition("-")
        assert last and int(last) - int(first) >= 1, f"fixed host port {entry}: a second replica cannot start"
    assert "container_name" not in worker and "hostname" not in worker
    settings = settings_from(monkeypatch, container_environment(worker))
    assert settings.web_host == "auto"
    import socket

    assert faust_app_kwargs(settings)["web_host"] == socket.gethostbyname(socket.gethostname())


def test_edgar_ingester_has_a_health_check_on_its_metrics(compose: dict[str, Any]) -> None:
    edgar = services(compose)["edgar"]
    check = " ".join(edgar["healthcheck"]["test"])
    port = environment(edgar)["FORM4_INGEST_METRICS_PORT"]
    assert not edgar["healthcheck"].get("disable")
    assert (
        f"127.0.0.1:{port}/metrics" in check
        and "form4_ingest_last_successful_poll_timestamp_seconds" in check
    )
    assert environment(edgar)["FORM4_INGEST_METRICS_BIND"] == "0.0.0.0"


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """``{container path: source}`` of a service's short-syntax volumes."""
    out = {}
    for entry in service.get("volumes", []):
        source, target = str(entry).split(":")[:2]
        out[target] = source
    return out


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def instruction(name: str) -> list[str]:
    return [args for keyword, args in dockerfile() if keyword == name]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{args!r} is not exec form"
    return value


def dockerfile_env() -> dict[str, str]:
    env = {}
    for args in instruction("ENV"):
        for item in shlex.split(args):
            name, sep, value = item.partition("=")
            assert sep, f"ENV {item!r}: use the NAME=value form"
            env[name] = value
    return env


def final_user() -> str:
    users = instruction("USER")
    assert users, "the Dockerfile never switches away from root (no USER instruction)"
    return users[-1].split(":")[0]


def healthcheck_command() -> list[str]:
    (args,) = instruction("HEALTHCHECK")
    match = re.fullmatch(r"(?:--\S+\s+)*CMD\s+(.*)", args)
    assert match, f"HEALTHCHECK {args!r} has no exec-form CMD"
    return exec_form(match.group(1))


def workdir() -> PurePosixPath:
    return PurePosixPath(instruction("WORKDIR")[-1])


def dockerignored(path: str) -> bool:
    """Whether Docker leaves ``path`` (relative to the context) out: last matching pattern wins, and a pattern
    that matches a parent directory matches everything under it."""
    patterns = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((negated, line.lstrip("!").strip("/")))
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in patterns:
        regex = fnmatch.translate(pattern).replace(".*", "[^/]*")
        if pattern.startswith("**/"):
            regex = "(.*/)?" + fnmatch.translate(pattern[3:]).replace(".*", "[^/]*")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def broker_name(compose: dict[str, Any]) -> str:
    """The Kafka service: the one whose image is apache/kafka."""
    (name,) = [n for n, s in services(compose).items() if str(s.get("image", "")).startswith("apache/kafka")]
    return name


def kafka_env(compose: dict[str, Any]) -> dict[str, str]:
    env = environment(services(compose)[broker_name(compose)])
    return {k: v for k, v in env.items() if v is not None}


def image_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services built from this repository's Dockerfile."""
    return {n: s for n, s in services(compose).items() if s.get("build") in (".", "./")}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FORM4_* variable from the developer's shell takes part."""
    for name in list(os.environ):
        if name.upper().startswith("FORM4_"):
            monkeypatch.delenv(name)


# --- (a) the compose file ----------------------------------------------------------------------------------


def test_compose_file_parses_with_only_specification_keys(compose: dict[str, Any]) -> None:
    unknown = {k for k in compose if k not in COMPOSE_TOP_LEVEL and not k.startswith("x-")}
    assert not unknown, f"not Compose top-level keys: {unknown}"
    assert {"broker", "worker"} <= set(services(compose))
    assert broker_name(compose) == "broker"


# --- (b) FORM4_* names and the broker URL ------------------------------------------------------------------


def test_every_form4_variable_is_a_known_setting(compose: dict[str, Any]) -> None:
    known = env_names()
    for name, service in services(compose).items():
        for var in environment(service):
            # FORM_4_..., FROM4_... and friends would be silently ignored: anything FORM4-like must be exact.
            if re.match(r"(?i)f[or]{2}m_?4", var):
                assert var.upper() in known, f"{name}: {var} is not a setting (streams.settings.env_names())"
    for var in dockerfile_env():
        if var.upper().startswith("FORM4"):
            assert var.upper() in known, f"Dockerfile ENV {var} is not a setting"


def test_form4_services_point_at_the_brokers_internal_plaintext_listener(compose: dict[str, Any]) -> None:
    broker = broker_name(compose)
    broker_service = services(compose)[broker]
    names_on_network = {broker, broker_service.get("hostname", broker)}
    env = kafka_env(compose)
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    bound = listeners(env["KAFKA_LISTENERS"])
    protocols = protocol_map(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"])
    clients = {n: s for n, s in services(compose).items() if "FORM4_BROKER_URL" in environment(s)}
    assert "worker" in clients
    for name, service in clients.items():
        url = environment(service)["FORM4_BROKER_URL"]
        assert url is not None and url.startswith("kafka://"), f"{name}: FORM4_BROKER_URL={url!r}"
        for server in bootstrap_servers(url).split(","):
            host, _, port = server.rpartition(":")
            assert host in names_on_network, f"{name}: {host} is not the broker service ({broker})"
            matching = [ln for ln, address in advertised.items() if address == (host, int(port))]
            assert matching, f"{name}: {server} is not an advertised listener: {advertised}"
            (listener,) = matching
            assert bound[listener][1] == int(port), f"{listener} listens on {bound[listener][1]}, not {port}"
            assert protocols[listener] == "PLAINTEXT", (
                f"{name}: Faust is not configured for {protocols[listener]}"
            )
        depends = service.get("depends_on", {})
        reaches_broker = broker in depends or any(
            broker in services(compose)[d].get("depends_on", {}) for d in depends
        )
        assert reaches_broker, f"{name} does not wait for the broker"


# --- (c) Settings from exactly the containers' environment -------------------------------------------------


def container_environment(service: dict[str, Any]) -> dict[str, str]:
    """What the process sees: the image's ENV, overridden by the service's environment (pass-throughs unset)."""
    env = dict(dockerfile_env()) if service.get("build") else {}
    for name, value in environment(service).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def settings_from(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name, value in env.items():
        if name.upper().startswith("FORM4_"):
            monkeypatch.setenv(name, value)
    return Settings()


def test_worker_environment_builds_valid_settings_for_a_container(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = services(compose)["worker"]
    env = container_environment(worker)
    settings = settings_from(monkeypatch, env)
    kwargs = faust_app_kwargs(settings)

    assert settings.broker_url == environment(worker)["FORM4_BROKER_URL"]
    # Persistent tables on the mounted volume.
    assert settings.store.startswith("rocksdb://")
    assert volume_mounts(worker).get(str(settings.data_dir)) == "worker-data"
    # Web server reachable through the published port.
    assert kwargs["web_bind"] == "0.0.0.0"
    assert (settings.web_port, settings.web_port) in port_mappings(worker)
    # Real-Kafka consumer-group timing, and no Tansu-only test workaround.
    assert settings.session_timeout >= 10
    assert settings.heartbeat_interval <= settings.session_timeout / 3
    assert settings.producer_max_batch_size == Settings.model_fields["producer_max_batch_size"].default
    assert settings.replication_factor == 1  # one broker
    assert (settings.log_level, settings.log_format) == ("info", "json")


def test_every_form4_service_builds_valid_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = settings_from(monkeypatch, container_environment(services(compose)["worker"]))
    for name, service in image_services(compose).items():
        for var in list(os.environ):
            if var.startswith("FORM4_"):
                monkeypatch.delenv(var)
        settings = settings_from(monkeypatch, container_environment(service))
        # Producers and the worker must agree on where the topics are and how they are partitioned.
        assert (settings.broker_url, settings.topic_prefix, settings.partitions) == (
            worker.broker_url,
            worker.topic_prefix,
            worker.partitions,
        ), name


def test_passed_through_variables_accept_a_valid_value(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`FORM4_EDGAR_USER_AGENT:` (no value) is taken from the host: a correct value there is accepted."""
    worker = services(compose)["worker"]
    passed = [n for n, v in environment(worker).items() if v is None]
    assert "FORM4_EDGAR_USER_AGENT" in passed
    monkeypatch.setenv("FORM4_EDGAR_USER_AGENT", "Example Corp ops@example.com")
    settings = settings_from(monkeypatch, container_environment(worker))
    assert settings.edgar_user_agent == "Example Corp ops@example.com"


# --- (d) Kafka KRaft essentials ----------------------------------------------------------------------------


def test_kafka_runs_kraft_combined_with_a_consistent_quorum(compose: dict[str, Any]) -> None:
    env = kafka_env(compose)
    broker = broker_name(compose)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    bound = listeners(env["KAFKA_LISTENERS"])
    controller_names = env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert len(voters) == 1
    node_id, _, address = voters[0].partition("@")
    host, _, port = address.rpartition(":")
    assert int(node_id) == int(env["KAFKA_NODE_ID"])
    assert host in {broker, services(compose)[broker].get("hostname")}
    assert int(port) == bound[controller_names[0]][1], "the voter port is not the CONTROLLER listener's"
    # 16 random bytes, base64url without padding (what `kafka-storage.sh random-uuid` prints).
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16


def test_kafka_listeners_are_named_mapped_and_bound(compose: dict[str, Any]) -> None:
    env = kafka_env(compose)
    bound = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = protocol_map(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"])
    controller_names = env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")
    inter_broker = env["KAFKA_INTER_BROKER_LISTENER_NAME"]

    used = set(bound) | set(advertised) | set(controller_names) | {inter_broker}
    assert used <= set(protocols), f"listener names without a security protocol: {used - set(protocols)}"
    assert set(protocols.values()) <= KAFKA_PROTOCOLS
    assert inter_broker in bound and inter_broker in advertised
    assert all(name in bound for name in controller_names)
    # Clients never talk to the controller listener: Kafka refuses to advertise it on a broker.
    assert not set(controller_names) & set(advertised)
    assert len({port for _, port in bound.values()}) == len(bound), "two listeners on one port"
    for name, (host, port) in advertised.items():
        assert bound[name][1] == port, f"{name} is advertised on {port} but listens on {bound[name][1]}"
        if host == "localhost":  # for host clients: the same port must be published
            assert (port, port) in port_mappings(services(compose)[broker_name(compose)]), name


def test_kafka_single_node_replication_and_durable_log_dirs(compose: dict[str, Any]) -> None:
    env = kafka_env(compose)
    single_node = {k: v for k, v in env.items() if k.endswith(("_REPLICATION_FACTOR", "_MIN_ISR"))}
    assert {
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
    } <= set(single_node)
    assert set(single_node.values()) == {"1"}, single_node
    mounts = volume_mounts(services(compose)[broker_name(compose)])
    for log_dir in env["KAFKA_LOG_DIRS"].split(","):
        mounted = [t for t in mounts if PurePosixPath(log_dir).is_relative_to(t)]
        assert mounted, f"log dir {log_dir} is not on a volume: {mounts}"
        assert mounts[mounted[0]] in (compose.get("volumes") or {}), f"{log_dir} is not on a named volume"


def test_kafka_healthcheck_asks_a_plaintext_listener(compose: dict[str, Any]) -> None:
    broker = services(compose)[broker_name(compose)]
    env = kafka_env(compose)
    test = broker["healthcheck"]["test"]
    command = test[1] if isinstance(test, list) else test
    assert command.startswith("/opt/kafka/bin/kafka-broker-api-versions.sh ")
    match = re.search(r"--bootstrap-server\s+(\S+):(\d+)", command)
    assert match, command
    plaintext_ports = {
        port
        for name, (_, port) in listeners(env["KAFKA_LISTENERS"]).items()
        if protocol_map(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"])[name] == "PLAINTEXT"
        and name not in env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")
    }
    assert int(match.group(2)) in plaintext_ports


# --- (e) the Dockerfile and cross-file wiring --------------------------------------------------------------


def test_image_runs_the_form4_console_script_as_a_worker_by_default(compose: dict[str, Any]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (base,) = instruction("FROM")
    assert base.startswith("python:3.11-slim")
    assert exec_form(instruction("ENTRYPOINT")[-1]) == ["form4"]
    assert "form4" in pyproject["project"]["scripts"]
    assert exec_form(instruction("CMD")[-1]) == ["worker"]
    assert services(compose)["worker"].get("command") == ["worker"]


def test_image_runs_as_a_non_root_user() -> None:
    assert final_user() not in {"root", "0"}
    keywords = [k for k, _ in dockerfile()]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN"), (
        "a RUN after USER would need root"
    )


def test_exposed_port_is_the_web_port_and_the_published_port(compose: dict[str, Any]) -> None:
    (exposed,) = instruction("EXPOSE")
    port = int(exposed.split("/")[0])
    worker = services(compose)["worker"]
    assert environment(worker)["FORM4_WEB_PORT"] == str(port)
    assert dockerfile_env()["FORM4_WEB_PORT"] == str(port)
    assert (port, port) in port_mappings(worker)
    assert str(port) in " ".join(healthcheck_command())  # the healthcheck's fallback port


def test_data_volume_is_the_data_dir_and_owned_by_the_user(compose: dict[str, Any]) -> None:
    (volume,) = instruction("VOLUME")
    (path,) = exec_form(volume)
    assert dockerfile_env()["FORM4_DATA_DIR"] == path
    assert environment(services(compose)["worker"])["FORM4_DATA_DIR"] == path
    assert volume_mounts(services(compose)["worker"])[path] == "worker-data"
    keywords = dockerfile()
    chown = [
        i
        for i, (k, a) in enumerate(keywords)
        if k == "RUN" and re.search(rf"chown\s+\S*{final_user()}\S*\s+{path}\b", a)
    ]
    assert chown, f"{path} is not chowned to {final_user()}"
    # Changes to a path after VOLUME declares it are discarded, so the chown must come first.
    assert chown[0] < keywords.index(("VOLUME", volume))


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []  # noqa: RUF012 - shared on purpose: the test reads what the server saw

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {"paths": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(port: int) -> int:
    command = healthcheck_command()
    assert command[0] == "python", "slim images have no curl: the check runs python"
    env = {**os.environ, "FORM4_WEB_PORT": str(port)}
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30).returncode


def test_healthcheck_passes_on_healthz_200(health_server: tuple[int, type[_Health]]) -> None:
    port, handler = health_server
    assert run_healthcheck(port) == 0
    assert handler.paths == ["/healthz"]


def test_healthcheck_fails_on_an_error_status(health_server: tuple[int, type[_Health]]) -> None:
    port, handler = health_server
    handler.status = 503
    assert run_healthcheck(port) != 0
    assert handler.paths == ["/healthz"]


def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        assert run_healthcheck(port) != 0


def test_dependency_list_step_installs_the_projects_dependencies() -> None:
    """The RUN that reads the dependencies from pyproject.toml alone (for layer caching) prints them all."""
    (step,) = [a for k, a in dockerfile() if k == "RUN" and "tomllib" in a]
    match = re.search(r'python -c "(.*?)"\s*>', step)
    assert match, step
    out = subprocess.run(
        [sys.executable, "-c", match.group(1)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert out.splitlines() == pyproject["project"]["dependencies"]


def test_copied_sources_exist_and_reach_the_build_context() -> None:
    copies = [shlex.split(a) for a in instruction("COPY")]
    sources = [src for args in copies for src in args[:-1] if not src.startswith("--")]
    assert sources.index("pyproject.toml") < sources.index("streams/"), (
        "dependencies are not cached apart from code"
    )
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
        assert not dockerignored(src.rstrip("/")), f"COPY {src}: excluded by .dockerignore"
    for module in (ROOT / "streams").rglob("*.py"):
        assert not dockerignored(module.relative_to(ROOT).as_posix()), module
    for kept_out in (
        ".venv",
        ".git",
        "tests",
        "tests/fixtures/xml",
        "bench",
        ".pytest_cache",
        "streams/__pycache__",
    ):
        assert dockerignored(kept_out), f"{kept_out} would be sent to the build"


def test_one_shot_commands_find_their_inputs_in_the_image(compose: dict[str, Any]) -> None:
    copied = {workdir() / shlex.split(a)[-1] for a in instruction("COPY")}
    for name, service in image_services(compose).items():
        for arg in service.get("command", []):
            if arg.startswith("/app/"):
                assert PurePosixPath(arg) in copied, f"{name}: {arg} is not copied into the image"
                assert any((ROOT / PurePosixPath(arg).relative_to(workdir())).iterdir()), arg


def test_service_commands_are_form4_commands(compose: dict[str, Any]) -> None:
    """Every command a service runs (or the image's CMD) is a form4 command: `worker`, `ingest files`, ..."""
    from streams.cli import app

    root = typer.main.get_command(app)
    for name, service in image_services(compose).items():
        args = service.get("command") or exec_form(instruction("CMD")[-1])
        command: Any = root
        for arg in args:
            subcommands = getattr(command, "commands", None)  # a group: descend
            if subcommands is None:
                break
            assert arg in subcommands, f"{name}: `form4 {' '.join(args)}`: no command {arg!r}"
            command = subcommands[arg]
        assert getattr(command, "commands", None) is None, f"{name}: {args} names a group, not a command"


def test_compose_references_resolve(compose: dict[str, Any]) -> None:
    declared_volumes = set(compose.get("volumes") or {})
    used_volumes = set()
    for name, service in services(compose).items():
        assert service.get("image") or service.get("build"), f"{name} has neither image nor build"
        if service.get("build"):
            assert (ROOT / service["build"] / "Dockerfile").is_file()
        for source in volume_mounts(service).values():
            if not source.startswith((".", "/", "~")):
                assert source in declared_volumes, f"{name}: volume {source} is not declared"
                used_volumes.add(source)
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services(compose), f"{name} depends on unknown service {dependency}"
            dep = services(compose)[dependency]
            if condition.get("condition") == "service_healthy":
                own = dep.get("healthcheck", {})
                assert not own.get("disable"), f"{dependency} has its healthcheck disabled"
                assert own.get("test") or (dep.get("build") and instruction("HEALTHCHECK")), (
                    f"{name} waits for {dependency} to be healthy, but it has no healthcheck"
                )
            if "profiles" not in service:
                assert "profiles" not in dep, f"{name} always starts but depends on profiled {dependency}"
        assert str(service.get("restart", "no")) in {"no", "always", "on-failure", "unless-stopped"}
    assert used_volumes == declared_volumes, f"declared but unused volumes: {declared_volumes - used_volumes}"


def test_services_built_from_the_dockerfile_share_one_image_tag(compose: dict[str, Any]) -> None:
    tags = {s.get("image") for s in image_services(compose).values()}
    assert len(tags) == 1 and None not in tags, tags


def test_edgar_ingester_keeps_its_state_on_a_volume_and_declares_itself(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    edgar = services(compose)["edgar"]
    assert edgar["command"] == ["ingest", "live"]
    assert environment(edgar)["FORM4_EDGAR_USER_AGENT"] is None  # from the host: never baked into the file
    monkeypatch.setenv("FORM4_EDGAR_USER_AGENT", "Example Corp ops@example.com")
    settings = settings_from(monkeypatch, container_environment(edgar))
    assert settings.require_edgar_user_agent() == "Example Corp ops@example.com"
    assert 0 < settings.edgar_rate_limit <= 10
    state_dir = str(settings.ingest_state_path.parent.parent)
    assert volume_mounts(edgar).get(state_dir) in compose["volumes"], (state_dir, volume_mounts(edgar))
    assert edgar["depends_on"]["worker"]["condition"] == "service_healthy"
