"""``labkit doctor --runtime docker``: the engine, the images and the ports, with fixes."""

from __future__ import annotations

from labkit.config import LabConfig, service_env_name
from labkit.errors import ContainerEngineError, PortInUse
from labkit.runtime.doctor import Checklist
from labkit.runtime.process import check_port_free

__all__ = ["run_docker_doctor"]


def run_docker_doctor(config: LabConfig) -> int:
    """Print one line per check; return 0 when nothing needs fixing."""
    import docker.errors as derr

    from labkit.runtime.docker import DockerRuntime
    from labkit.runtime.docker_recipes import recipe

    report = Checklist()
    print("labkit doctor (docker runtime)")
    runtime = DockerRuntime(config)
    try:
        version = runtime.engine.client.version().get("Version", "?")
    except ContainerEngineError as exc:
        report(False, "Docker engine", str(exc))
        return report.verdict()
    report(True, f"Docker engine {version} at {config.docker_host or 'the default socket'}")
    running = runtime.running()
    for spec in runtime.specs():
        image = recipe(spec.name, config).image
        try:
            runtime.engine.client.images.get(image)
            report(True, f"{spec.name:<13} image {image}")
        except derr.ImageNotFound:
            fix = ("`labkit up --runtime docker` builds it from docker/labkit.Dockerfile; or "
                   f"point {service_env_name('labkit')} at a copy"
                   if image.startswith("labkit/") else
                   "`labkit up --runtime docker` pulls it; offline, point "
                   f"{service_env_name(spec.name)} at a mirror's copy")
            report(False, f"{spec.name:<13} image {image} is not on the engine", fix)
        if spec.name in running:
            continue
        for port in spec.ports.values():
            try:
                check_port_free(spec.name, "127.0.0.1", config.port(port))
            except PortInUse as exc:
                report(False, f"port {config.port(port)} busy for {spec.name}", str(exc))
    if running:
        print(f"  lab running: {', '.join(sorted(running))}")
    return report.verdict()
