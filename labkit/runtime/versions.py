"""The one table of pinned upstream versions: every way of getting a binary reads it.

A :class:`Pinned` entry names one upstream project at one version and says how to get its
executables: the official release archive (URL and checksum patterns), the project's Go
module at the same version, and the Debian package. Provisioning
(:mod:`labkit.runtime.provision`), the Go builder, the downloader, the docker runtime and
``labkit doctor`` all read :data:`PINNED`, so a version bump is one line here.

URL patterns take ``{version}``, ``{os}`` (``linux``, ``darwin``) and ``{arch}`` (``amd64``,
``arm64``). A checksum is either the SHA-256 written in the table (``sha256``, per platform)
or read from the release's checksum file (``checksums_url``: a ``sha256sum``-style list, or
one digest for ``single_digest`` files such as Grafana's ``.sha256``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PINNED", "GoBuild", "Pinned", "pinned", "pinned_for"]


@dataclass(frozen=True)
class GoBuild:
    """How to build the project's executables from its Go module at the pinned version."""

    module: str  # e.g. github.com/prometheus/prometheus
    version: str  # the module's tag, e.g. v0.316.0 for Prometheus 3.16.0
    packages: dict[str, str]  # executable name -> package path
    ldflags: str = ""  # may use {version} and {module_version}
    tags: str = ""  # go build tags, comma-separated
    # The module's go.mod has replace directives, which `go install pkg@version` refuses:
    # build through a throwaway module that requires it (`go get -tool`) instead.
    needs_build_module: bool = False
    # Folders a //go:embed pattern needs that the module zip lacks (assets built with npm
    # upstream): the build runs in a copy of the module with a placeholder page in each.
    placeholder_dirs: tuple[str, ...] = ()


# The version variables every Prometheus project reads (github.com/prometheus/common/version).
_PROM_LDFLAGS = " ".join(
    f"-X github.com/prometheus/common/version.{key}={value}"
    for key, value in (
        ("Version", "{version}"),
        ("Revision", "{module_version}"),
        ("Branch", "HEAD"),
        ("BuildUser", "labkit-go-build"),
    )
)


@dataclass(frozen=True)
class Pinned:
    """One upstream project at its pinned version, and every way labkit can get it."""

    project: str
    version: str  # the upstream release version, without a leading v
    executables: tuple[str, ...]
    release_url: str = ""  # archive URL pattern; empty when there is no release to fetch
    checksums_url: str = ""  # URL pattern of the release's checksum file
    single_digest: bool = False  # the checksum file holds one digest, not a list
    sha256: dict[str, str] = field(default_factory=dict)  # "{os}-{arch}" -> pinned digest
    archive_names: dict[str, str] = field(default_factory=dict)  # member name -> executable
    go: GoBuild | None = None
    apt_package: str = ""
    debian_names: dict[str, str] = field(default_factory=dict)  # executable -> Debian name
    version_args: tuple[str, ...] = ("--version",)

    def url(self, pattern: str, os_name: str, arch: str) -> str:
        return pattern.format(version=self.version, os=os_name, arch=arch)


def _gh(owner: str, repo: str) -> str:
    """A GitHub release's download folder, as a pattern that still takes ``{version}``."""
    return f"https://github.com/{owner}/{repo}/releases/download/v{{version}}"


def _prom_archive(repo: str) -> str:
    return f"{_gh('prometheus', repo)}/{repo}-{{version}}.{{os}}-{{arch}}.tar.gz"


def _prom_sums(repo: str) -> str:
    return f"{_gh('prometheus', repo)}/sha256sums.txt"


PINNED: dict[str, Pinned] = {
    p.project: p
    for p in (
        Pinned(
            "prometheus", "3.16.0", ("prometheus", "promtool"),
            release_url=_prom_archive("prometheus"), checksums_url=_prom_sums("prometheus"),
            go=GoBuild("github.com/prometheus/prometheus", "v0.316.0",
                       {"prometheus": "cmd/prometheus", "promtool": "cmd/promtool"},
                       _PROM_LDFLAGS,
                       # Leave out the cloud service-discovery plugins (AWS, Azure, GCE, ...
                       # and their SDKs): the lab scrapes static targets, and the build is
                       # much shorter. Kubernetes discovery is compiled in regardless.
                       tags="remove_all_sd"),
            apt_package="prometheus",
        ),
        Pinned(
            "alertmanager", "0.35.0", ("alertmanager", "amtool"),
            release_url=_prom_archive("alertmanager"), checksums_url=_prom_sums("alertmanager"),
            go=GoBuild("github.com/prometheus/alertmanager", "v0.35.0",
                       {"alertmanager": "cmd/alertmanager", "amtool": "cmd/amtool"},
                       _PROM_LDFLAGS, placeholder_dirs=("ui/app/dist",)),
            apt_package="prometheus-alertmanager",
            debian_names={"alertmanager": "prometheus-alertmanager"},
        ),
        Pinned(
            "node_exporter", "1.12.1", ("node_exporter",),
            release_url=_prom_archive("node_exporter"), checksums_url=_prom_sums("node_exporter"),
            go=GoBuild("github.com/prometheus/node_exporter", "v1.12.1",
                       {"node_exporter": ""}, _PROM_LDFLAGS),
            apt_package="prometheus-node-exporter",
            debian_names={"node_exporter": "prometheus-node-exporter"},
        ),
        # Jaeger v2 ships from the v1.x tags of its Go module (v1.76.0 is Jaeger 2.13.0).
        Pinned(
            "jaeger", "2.13.0", ("jaeger",),
            release_url=_gh("jaegertracing", "jaeger")
            + "/jaeger-{version}-{os}-{arch}.tar.gz",
            checksums_url=_gh("jaegertracing", "jaeger")
            + "/jaeger-{version}-SHA256SUMS.txt",
            go=GoBuild("github.com/jaegertracing/jaeger", "v1.76.0",
                       {"jaeger": "cmd/jaeger"},
                       "-X github.com/jaegertracing/jaeger/internal/version.latestVersion="
                       "v{version} -X github.com/jaegertracing/jaeger/internal/version."
                       "commitSHA={module_version}",
                       needs_build_module=True),
            version_args=("version",),
        ),
        # Loki, Grafana and Alloy are AGPL: never built here, only fetched as releases.
        Pinned(
            "loki", "3.7.8", ("loki",),
            release_url=_gh("grafana", "loki")
            + "/loki-{os}-{arch}.zip",
            checksums_url=_gh("grafana", "loki") + "/SHA256SUMS",
            archive_names={"loki-{os}-{arch}": "loki"},
            version_args=("-version",),
        ),
        Pinned(
            "grafana", "13.2.3", ("grafana",),
            release_url="https://dl.grafana.com/oss/release/grafana-{version}.{os}-{arch}.tar.gz",
            checksums_url="https://dl.grafana.com/oss/release/"
            "grafana-{version}.{os}-{arch}.tar.gz.sha256",
            single_digest=True,
            version_args=("--version",),
        ),
        Pinned(
            "alloy", "1.21.2", ("alloy",),
            release_url=_gh("grafana", "alloy")
            + "/alloy-{os}-{arch}.zip",
            checksums_url=_gh("grafana", "alloy") + "/SHA256SUMS",
            archive_names={"alloy-{os}-{arch}": "alloy"},
            version_args=("--version",),
        ),
    )
}


def pinned(project: str) -> Pinned:
    """The pinned entry of ``project``; a clear error lists the known ones."""
    try:
        return PINNED[project]
    except KeyError:
        raise KeyError(f"no pinned version for {project!r}; known: {', '.join(PINNED)}") from None


def pinned_for(executable: str) -> Pinned:
    """The project that ships ``executable`` (``promtool`` -> Prometheus)."""
    for entry in PINNED.values():
        if executable in entry.executables:
            return entry
    known = ", ".join(e for p in PINNED.values() for e in p.executables)
    raise KeyError(f"labkit cannot install {executable!r}; it knows: {known}")
