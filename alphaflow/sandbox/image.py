"""Building the sandbox image: ``alphaflow sandbox build [--offline] [--force] [--rebuild-base] [--quiet]``.

The build context is ``sandbox/`` (the Dockerfile) plus the runner package
(``alphaflow/sandbox/runner/``, copied in as ``runner/``). The image is tagged by a content hash of
that context, so it is rebuilt only when one of them changes, and an up-to-date image makes the
command a fast no-op (``./af`` runs it before every command). With a reachable registry
``docker build`` starts from ``debian:bookworm-slim``; without one (or with ``--offline``) a base
root filesystem is made with ``debootstrap`` from Debian's package mirror, imported with
``docker import`` and cached as its own image, and the same Dockerfile is built on top of it with no
network. Both paths give the same Debian python3 and g++, the same non-root user and the same runner.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.resources import sandbox_dir
from alphaflow.sandbox.runner import RUNNER_DIR
from alphaflow.sandbox.runner.protocol import RUNNER_DIR_IN_IMAGE, VERSIONS_FILE

IMAGE_REPOSITORY = "alphaflow-sandbox"
BASE_REPOSITORY = "alphaflow-sandbox-base"
# The runner package's folder in the build context (the Dockerfile copies it from there).
RUNNER_IN_CONTEXT = "runner"
LABEL_PREFIX = "org.alphaflow.sandbox"

# The offline base: Debian bookworm (the release of debian:bookworm-slim), smallest variant, and the
# packages the Dockerfile installs online. Changing any of these makes a new base.
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("ALPHAFLOW_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = ("python3", "g++")
BASE_RECIPE_VERSION = 1
# What the offline base leaves out: package caches and lists, documentation.
TRIMMED_PATHS = (
    "var/cache/apt/archives",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "var/log",
)

REGISTRY_PROBE_URL = "https://registry-1.docker.io/v2/"
REGISTRY_PROBE_TIMEOUT_S = 3.0


# --- tags and presence ----------------------------------------------------------------------------


def context_files(directory: Path | None = None, runner: Path | None = None) -> dict[str, Path]:
    """The build context: name in the context -> file. ``directory`` (default ``sandbox/``) and the
    runner package (default ``alphaflow/sandbox/runner``) as ``runner/``; caches left out."""
    files: dict[str, Path] = {}
    for root, prefix in ((directory or sandbox_dir(), ""), (runner or Path(RUNNER_DIR), RUNNER_IN_CONTEXT)):
        for path in sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            if prefix and path.name == VERSIONS_FILE:
                continue  # written by the build itself
            name = path.relative_to(root).as_posix()
            files[f"{prefix}/{name}" if prefix else name] = path
    return files


def context_hash(directory: Path | None = None, runner: Path | None = None) -> str:
    """sha256 over the build context's files (names and contents), ignoring Python caches."""
    digest = hashlib.sha256()
    for name, path in sorted(context_files(directory, runner).items()):
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def context_archive() -> io.BytesIO:
    """The build context as a tar archive, for ``docker build`` (what ``context_hash`` covers)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, path in sorted(context_files().items()):
            info = archive.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o644
            info.mtime = 0
            with open(path, "rb") as handle:
                archive.addfile(info, handle)
    buffer.seek(0)
    return buffer


def image_tag() -> str:
    """The tag of the image for the current context (``sandbox/`` + runner): ``alphaflow-sandbox:<hex>``."""
    return f"{IMAGE_REPOSITORY}:{context_hash()[:12]}"


def base_tag() -> str:
    """The tag of the cached offline base (debootstrap root filesystem)."""
    recipe = json.dumps([BASE_RECIPE_VERSION, DEBIAN_SUITE, DEBIAN_MIRROR, BASE_PACKAGES, TRIMMED_PATHS])
    return f"{BASE_REPOSITORY}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def image_present(client: Any, tag: str | None = None) -> bool:
    """Whether the engine behind ``client`` (a ``docker.DockerClient``) has the image for ``tag``."""
    import docker.errors

    try:
        client.images.get(tag or image_tag())
    except docker.errors.ImageNotFound:
        return False
    return True


def _present_quick(tag: str) -> bool | None:
    """Presence through the docker CLI (no SDK import: keeps ``./af`` fast); None when unknown."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        return None
    try:
        done = subprocess.run(
            [docker_cli, "image", "inspect", "--format", "{{.Id}}", tag],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode == 0:
        return True
    if b"No such image" in done.stderr or b"No such object" in done.stderr:
        return False
    return None  # the engine did not answer: let the SDK path explain


def _tag_latest_quick(tag: str) -> None:
    """Point ``latest`` at the image of this checkout (another checkout may have moved it)."""
    docker_cli = shutil.which("docker")
    if docker_cli is not None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                [docker_cli, "tag", tag, f"{IMAGE_REPOSITORY}:latest"], capture_output=True, timeout=20
            )


# --- building -------------------------------------------------------------------------------------


class _Log:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"sandbox build: {message}", file=sys.stderr, flush=True)


def _client() -> Any:
    try:
        import docker
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise UserError("the `docker` Python package is missing: pip install 'docker>=7,<8'") from error
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as error:
        raise UserError(
            "no Docker engine answers (DOCKER_HOST or /var/run/docker.sock): install Debian's docker.io "
            "and start it with `dockerd --bridge=none --iptables=false`, or judge with --sandbox local "
            f"({type(error).__name__})"
        ) from None
    return client


def registry_reachable(url: str = REGISTRY_PROBE_URL, timeout_s: float = REGISTRY_PROBE_TIMEOUT_S) -> bool:
    """Whether the image registry answers at all (401 counts: it is there) within ``timeout_s``."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
    return True


def build_image(
    offline: bool | None = None, force: bool = False, quiet: bool = False, rebuild_base: bool = False
) -> str:
    """Build the image for the current context unless present; returns its tag.

    ``offline``: True forces the debootstrap path, False forces ``docker build`` from the registry,
    None picks by probing the registry (3 s). ``force`` rebuilds even when the tag exists, on the
    cached offline base; ``rebuild_base`` also remakes that base with debootstrap. Raises
    ``UserError`` naming what to install or run when it cannot build.
    """
    log = _Log(quiet)
    tag = image_tag()
    force = force or rebuild_base
    if not force and _present_quick(tag):
        _tag_latest_quick(tag)
        log(f"{tag} is up to date")
        return tag
    client = _client()
    with _build_lock():  # several `./af` calls may start at once: one builds, the others wait
        if not force and image_present(client, tag):
            client.images.get(tag).tag(IMAGE_REPOSITORY, "latest")
            log(f"{tag} is up to date")
            return tag
        return _build(client, tag, offline=offline, rebuild_base=rebuild_base, log=log)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    path = Path(tempfile.gettempdir()) / "alphaflow-sandbox-build.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(client: Any, tag: str, *, offline: bool | None, rebuild_base: bool, log: _Log) -> str:
    started = time.monotonic()
    if offline is None:
        offline = not registry_reachable()
        if offline:
            log(f"no registry answers at {REGISTRY_PROBE_URL}: building offline with debootstrap")
    if not offline:
        try:
            _docker_build(client, tag, build_args={}, network="host", pull=True, log=log)
        except UserError as error:
            log(f"docker build from the registry failed ({error}); building offline instead")
            offline = True
    if offline:
        base = _ensure_offline_base(client, force=rebuild_base, log=log)
        _docker_build(client, tag, build_args={"BASE": base}, network="none", pull=False, log=log)
    info = _label_with_versions(client, tag, built_by="debootstrap" if offline else "docker build")
    client.images.get(tag).tag(IMAGE_REPOSITORY, "latest")
    log(
        f"built {tag} (also {IMAGE_REPOSITORY}:latest): runner v{info.get('version')}, "
        f"python {info.get('python')}, g++ {info.get('gxx')}, in {time.monotonic() - started:.0f} s"
    )
    return tag


def _docker_build(
    client: Any, tag: str, *, build_args: dict[str, str], network: str, pull: bool, log: _Log
) -> None:
    """``docker build`` of the context (``context_archive``) through the engine API (the classic
    builder: a local FROM image needs no registry)."""
    stream = client.api.build(
        fileobj=context_archive(),
        custom_context=True,
        tag=tag,
        buildargs=build_args,
        network_mode=network,
        pull=pull,
        rm=True,
        forcerm=True,
        decode=True,
    )
    _follow(stream, log)


def _follow(stream: Any, log: _Log) -> None:
    for chunk in stream:
        if "error" in chunk:
            detail = str(chunk.get("error", "")).strip().splitlines()
            raise UserError(f"docker build failed: {detail[-1] if detail else 'unknown error'}")
        line = str(chunk.get("stream", "")).strip()
        if line.startswith("Step "):
            log(line)


def _ensure_offline_base(client: Any, *, force: bool, log: _Log) -> str:
    """The debootstrap base image, made (about 1-2 minutes) when missing or forced."""
    tag = base_tag()
    if not force and image_present(client, tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise UserError("building the sandbox image offline needs debootstrap: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise UserError(
            "building the sandbox image offline runs debootstrap, which needs root: "
            "run `sudo alphaflow sandbox build --offline` once"
        )
    with tempfile.TemporaryDirectory(prefix="alphaflow-rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        log(
            f"debootstrap {DEBIAN_SUITE} ({', '.join(BASE_PACKAGES)}) from {DEBIAN_MIRROR}: about 1-2 minutes"
        )
        command = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            DEBIAN_SUITE,
            str(rootfs),
            DEBIAN_MIRROR,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stdout + done.stderr).strip().splitlines()
            last = lines[-1] if lines else f"exit code {done.returncode}"
            raise UserError(f"debootstrap failed (is {DEBIAN_MIRROR} reachable?): {last}")
        for relative in TRIMMED_PATHS:
            _empty(rootfs / relative)
        archive = Path(scratch) / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
        shutil.rmtree(rootfs, ignore_errors=True)
        log(f"docker import -> {tag}")
        repository, version = tag.split(":")
        client.api.import_image_from_file(
            str(archive),
            repository=repository,
            tag=version,
            changes=[
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8",
                'CMD ["/bin/bash"]',
                f"LABEL {LABEL_PREFIX}.base={DEBIAN_SUITE}-debootstrap-minbase",
            ],
        )
    if not image_present(client, tag):
        raise UserError(f"docker import did not produce {tag}; see the engine's log")
    return tag


def _empty(path: Path) -> None:
    """Remove what is inside ``path`` (or the file itself), keeping directories the system expects."""
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    elif path.exists():
        path.unlink()


def _label_with_versions(client: Any, tag: str, built_by: str) -> dict[str, Any]:
    """Ask the built image's runner for its versions and record them as labels on the same tag."""
    output = client.containers.run(
        tag, ["python3", RUNNER_DIR_IN_IMAGE, "--info"], network_mode="none", remove=True
    )
    info = json.loads(output.decode("utf-8"))
    labels = {
        f"{LABEL_PREFIX}.runner-version": str(info.get("version")),
        f"{LABEL_PREFIX}.python": str(info.get("python")),
        f"{LABEL_PREFIX}.gxx": str(info.get("gxx")),
        f"{LABEL_PREFIX}.context-hash": context_hash(),
        f"{LABEL_PREFIX}.built-by": built_by,
    }
    dockerfile = f"FROM {tag}\nLABEL " + " ".join(f"{k}={json.dumps(v)}" for k, v in labels.items()) + "\n"
    stream = client.api.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, network_mode="none", rm=True, decode=True
    )
    _follow(stream, _Log(quiet=True))
    return info


# --- the command ----------------------------------------------------------------------------------


def add_build_command(sandbox_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``build`` to the ``alphaflow sandbox`` command group (called by ``alphaflow.sandbox.cli``)."""
    parser = sandbox_subparsers.add_parser(
        "build",
        help="build the sandbox image (no-op when up to date)",
        description=(
            "Build the sandbox image alphaflow-sandbox:<hash of sandbox/ and the runner>. Uses "
            "`docker build` when a registry answers, otherwise (or with --offline) a debootstrap root "
            "filesystem and `docker import`."
        ),
    )
    parser.add_argument(
        "--offline", action="store_true", help="build from a debootstrap root filesystem (no registry)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when the image is present")
    parser.add_argument(
        "--rebuild-base", action="store_true", help="also remake the cached debootstrap base (offline path)"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing unless something fails")
    parser.set_defaults(func=cmd_build)
    return parser


def cmd_build(args: argparse.Namespace) -> int:
    tag = build_image(
        offline=True if args.offline else None,
        force=args.force,
        quiet=args.quiet,
        rebuild_base=args.rebuild_base,
    )
    if not args.quiet:
        print(tag)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m alphaflow.sandbox.image [--offline] [--force] [--rebuild-base] [--quiet]``: the
    build command without loading the whole CLI (for scripts/bootstrap.sh, run before every command)."""
    parser = argparse.ArgumentParser(prog="alphaflow sandbox")
    add_build_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["build", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except UserError as error:
        print(f"alphaflow: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
