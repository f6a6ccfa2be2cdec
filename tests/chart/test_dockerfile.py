"""docker/Dockerfile: hadolint, pinned bases, non-root users, no secrets, and the targets the
chart's image settings point at."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.chart

SECRETISH = re.compile(r"(PASSWORD|TOKEN|SECRET|ACCESS_KEY|PRIVATE_KEY)", re.IGNORECASE)


def stages(lib) -> dict[str, dict]:
    """Stage name -> {base, user, args}; instructions joined over line continuations."""
    text = (lib.REPO / "docker" / "Dockerfile").read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    out: dict[str, dict] = {}
    global_args: dict[str, str] = {}
    current = None
    for line in (raw.strip() for raw in lines):
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            match = re.fullmatch(r"(\S+) AS (\S+)", rest, flags=re.IGNORECASE)
            assert match, f"every stage is named: {line}"
            current = {"base": match.group(1), "user": None, "lines": []}
            out[match.group(2)] = current
        elif word == "ARG" and current is None:
            name, _, default = rest.partition("=")
            global_args[name] = default
        elif current is not None:
            current["lines"].append(line)
            if word == "USER":
                current["user"] = rest
    for stage in out.values():
        stage["base"] = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], stage["base"])
    return out


def effective_user(all_stages: dict[str, dict], name: str) -> str | None:
    stage = all_stages[name]
    if stage["user"]:
        return stage["user"]
    return effective_user(all_stages, stage["base"]) if stage["base"] in all_stages else None


def test_hadolint_passes(lib) -> None:
    proc = lib.run([lib.tool("hadolint"), lib.REPO / "docker" / "Dockerfile"], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bases_are_pinned_and_never_latest(lib) -> None:
    all_stages = stages(lib)
    for name, stage in all_stages.items():
        base = stage["base"]
        if base in all_stages:
            continue
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[a-f0-9]{64})?", base), (
            f"stage {name}: base {base} is not pinned to a patch version"
        )
    assert "latest" not in (lib.REPO / "docker" / "Dockerfile").read_text()


def test_chart_image_targets_are_dockerfile_targets_running_as_non_root(lib) -> None:
    all_stages = stages(lib)
    targets = lib.load_yaml(lib.CHART / "values.yaml")["image"]["targets"]
    assert set(targets) <= set(all_stages), set(targets) - set(all_stages)
    uid = lib.load_yaml(lib.CHART / "values.yaml")["podSecurity"]["runAsUser"]
    for target, image in targets.items():
        assert image["repository"] == f"reco-{target}"
        user = effective_user(all_stages, target)
        assert user == f"{uid}:{uid}", f"target {target} runs as {user}"
        title = [line for line in all_stages[target]["lines"] if "image.title" in line]
        assert title and f'"reco-{target}"' in title[0]


def test_images_install_the_project_pins_and_hold_no_secrets(lib) -> None:
    text = (lib.REPO / "docker" / "Dockerfile").read_text()
    makefile = (lib.REPO / "Makefile").read_text()
    pyproject = (lib.REPO / "pyproject.toml").read_text()
    torchrec = re.search(r"torchrec==([0-9.]+)", makefile)
    assert torchrec and f"ARG TORCHREC_VERSION={torchrec.group(1)}" in text
    mlflow = re.search(r'"mlflow==([0-9.]+)"', pyproject)
    assert mlflow and f"ARG MLFLOW_VERSION={mlflow.group(1)}" in text
    assert "pip install --no-cache-dir --extra-index-url" in text and " . \\" in text
    for line in text.splitlines():
        if line.startswith(("ARG", "ENV")):
            assert not SECRETISH.search(line), f"secret-looking build setting: {line}"
    assert not re.search(r"COPY\s+\S*\.env", text)
