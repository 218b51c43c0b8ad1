"""The Docker engine as the docker runtime sees it: one client, labels, names, images.

Every foreign error of the Docker SDK is translated here (:func:`engine_errors`), so the
runtime raises labkit's errors that name the service and the image.
"""

from __future__ import annotations

import hashlib
import importlib
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labkit.config import LabConfig, service_env_name
from labkit.errors import ContainerEngineError, ImageNotAvailable, PortInUse

__all__ = ["LABELS", "Engine", "engine_errors", "lab_id"]

PROJECT = "labkit"
LABELS = {"project": "io.labkit.project", "lab": "io.labkit.lab",
          "service": "io.labkit.service", "config": "io.labkit.config-hash"}
REPO_ROOT = Path(__file__).resolve().parents[2]


def docker_sdk() -> Any:
    """The Docker SDK for Python, or an error that says how to install it."""
    try:
        sdk: Any = importlib.import_module("docker")
        importlib.import_module("docker.errors")
    except ImportError:
        sdk = None
    # A checkout's docker/ folder (Dockerfiles) imports as an empty namespace package.
    if sdk is None or not hasattr(sdk, "DockerClient"):
        raise ContainerEngineError(
            "the docker runtime needs the Docker SDK for Python: pip install 'labkit[docker]'")
    return sdk


def _check_unix_socket(url: str) -> None:
    """Fail early, and with no socket left open, when a unix:// engine does not answer.

    (The SDK leaks its socket when the connection is refused.)
    """
    path = url.removeprefix("unix://") if url.startswith("unix://") else (
        "" if url else "/var/run/docker.sock")
    if not path:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError as exc:
            raise ContainerEngineError(
                f"the Docker engine is unreachable at unix://{path} ({exc.strerror}). Start "
                "Docker, or point DOCKER_HOST (or LABKIT_DOCKER_HOST) at a running engine."
            ) from None


def lab_id(config: LabConfig) -> str:
    """A short id for one lab, from its run directory: two labs on one engine never meet."""
    return hashlib.sha256(str(config.run_dir.resolve()).encode()).hexdigest()[:10]


@contextmanager
def engine_errors(service: str = "", image: str = "") -> Iterator[None]:
    """Translate the Docker SDK's errors into labkit's, naming the service and the image."""
    import requests

    derr = docker_sdk().errors

    who = f"{service}: " if service else ""
    try:
        yield
    except derr.ImageNotFound as exc:
        raise ImageNotAvailable(
            f"{who}image {image} is not on this Docker engine ({exc.explanation}). "
            f"Pull or build it, or point {service_env_name(service or 'labkit')} at a mirror.",
            service=service, image=image) from exc
    except derr.APIError as exc:
        text = str(exc.explanation or exc)
        if "port is already allocated" in text or "address already in use" in text:
            raise PortInUse(f"{who}cannot publish its port: {text}. Stop what holds it, or "
                            "move the whole lab with LABKIT_PORT_OFFSET=1000.",
                            service=service) from exc
        raise ContainerEngineError(f"{who}the Docker engine refused: {text}") from exc
    except (derr.DockerException, requests.exceptions.ConnectionError) as exc:
        raise ContainerEngineError(
            f"{who}the Docker engine is unreachable ({exc}). Start Docker, or point "
            "DOCKER_HOST (or LABKIT_DOCKER_HOST) at a running engine.") from exc


class Engine:
    """One lab's view of a Docker engine: its network, volumes and containers by label."""

    def __init__(self, config: LabConfig, client: Any = None) -> None:
        self.config = config
        self.lab = lab_id(config)
        self._client = client

    @property
    def client(self) -> Any:  # a docker.DockerClient (the SDK ships no type hints)
        if self._client is None:
            docker = docker_sdk()
            _check_unix_socket(self.config.docker_host)
            with engine_errors():
                client = docker.DockerClient(base_url=self.config.docker_host) \
                    if self.config.docker_host else docker.from_env()
                try:
                    client.ping()
                except BaseException:
                    client.close()  # no socket left open behind the error
                    raise
            self._client = client
        return self._client

    # -- names and labels -----------------------------------------------------------------------

    @property
    def network_name(self) -> str:
        return f"labkit-{self.lab}"

    def container_name(self, service: str) -> str:
        return f"labkit-{self.lab}-{service}"

    def volume_name(self, key: str) -> str:
        return f"labkit-{self.lab}-{key}"

    def labels(self, service: str = "", **extra: str) -> dict[str, str]:
        labels = {LABELS["project"]: PROJECT, LABELS["lab"]: self.lab}
        if service:
            labels[LABELS["service"]] = service
        return {**labels, **{LABELS[k]: v for k, v in extra.items()}}

    def _filters(self, everything: bool = False) -> dict[str, list[str]]:
        wanted = f"{LABELS['project']}={PROJECT}" if everything else f"{LABELS['lab']}={self.lab}"
        return {"label": [wanted]}

    # -- resources ------------------------------------------------------------------------------

    def ensure_network(self) -> str:
        with engine_errors():
            if not self.client.networks.list(names=[self.network_name],
                                             filters=self._filters()):
                self.client.networks.create(self.network_name, driver="bridge",
                                            labels=self.labels())
        return self.network_name

    def ensure_volume(self, key: str, bind_to: Path | None = None) -> str:
        """A named volume (optionally backed by a host folder, so the host can read it)."""
        name = self.volume_name(key)
        import docker.errors as derr

        with engine_errors():
            try:
                self.client.volumes.get(name)
            except derr.NotFound:
                opts = {"type": "none", "o": "bind", "device": str(bind_to)} if bind_to else {}
                self.client.volumes.create(name, driver="local", driver_opts=opts,
                                           labels=self.labels())
        return name

    def containers(self, everything: bool = False) -> list[Any]:
        with engine_errors():
            return list(self.client.containers.list(all=True,
                                                    filters=self._filters(everything)))

    def networks(self, everything: bool = False) -> list[Any]:
        with engine_errors():
            return list(self.client.networks.list(filters=self._filters(everything)))

    def volumes(self, everything: bool = False) -> list[Any]:
        with engine_errors():
            return list(self.client.volumes.list(filters=self._filters(everything)))

    def ensure_image(self, service: str, image: str, progress: Callable[[str], None]) -> None:
        """The image is on the engine: found, else pulled (labkit's own image: built)."""
        import docker.errors as derr

        with engine_errors(service, image):
            try:
                self.client.images.get(image)
                return
            except derr.ImageNotFound:
                pass
        if image.startswith("labkit/labkit:"):
            self.build_labkit_image(image, progress)
            return
        progress(f"  {service:<14} pulling {image}")
        try:
            with engine_errors(service, image):
                self.client.images.pull(image)
        except (ContainerEngineError, ImageNotAvailable) as exc:
            raise ImageNotAvailable(
                f"{service}: pulling image {image} failed ({exc}). Pull it by hand, or point "
                f"{service_env_name(service)} at a mirror that has it.",
                service=service, image=image) from exc

    def build_labkit_image(self, tag: str, progress: Callable[[str], None],
                           base: str | None = None) -> None:
        """Build the gateway/sink/shipper image from this checkout (docker/labkit.Dockerfile)."""
        progress(f"  building {tag} from {REPO_ROOT} (docker/labkit.Dockerfile)")
        args = {"BASE": base} if base else {}
        with engine_errors("labkit", tag):
            self.client.images.build(path=str(REPO_ROOT), dockerfile="docker/labkit.Dockerfile",
                                     tag=tag, buildargs=args, rm=True, labels=self.labels())
