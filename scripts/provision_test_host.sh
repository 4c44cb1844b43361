#!/usr/bin/env bash
# Provision a fresh Debian host (as root) for the integration tests: the Docker engine from
# Debian's docker.io (its CLI, /usr/bin/docker 20.10, builds with BuildKit under
# DOCKER_BUILDKIT=1 without the buildx plugin: every image build goes through it, as cdk deploy's
# does), QEMU user emulation for linux/arm64 builds, debootstrap for base images, and Debian's
# docker-registry + htpasswd for the local registry. Idempotent.
set -euo pipefail

log() { printf '[provision] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "provision_test_host.sh: must run as root (it installs packages and starts dockerd)" >&2
  exit 1
fi

packages=(docker.io debootstrap qemu-user-static binfmt-support docker-registry apache2-utils
          openjdk-17-jdk-headless maven curl)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The registry package starts a system service on :5000 on some hosts; tests run their own.
if command -v systemctl >/dev/null 2>&1; then systemctl stop docker-registry 2>/dev/null || true; fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /tmp/docker-data
  # The data root on /tmp works on overlay-backed hosts.
  nohup dockerd --host unix:///var/run/docker.sock --data-root /tmp/docker-data \
    >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/dockerd.log" >&2; tail -20 /tmp/dockerd.log >&2; exit 1; }
fi
log "docker engine $(docker version --format '{{.Server.Version}}')"

# BuildKit through Debian's CLI, offline (FROM scratch): the builds the tests run. A docker CLI
# 23+ elsewhere on PATH (e.g. /usr/local/bin) needs buildx instead; scripts/ops/docker_cli.py
# picks the first capable one, so Debian's must work.
buildkit_probe=$(mktemp -d)
printf 'FROM scratch\nCOPY probe /probe\n' >"$buildkit_probe/Dockerfile"
echo probe >"$buildkit_probe/probe"
if ! DOCKER_BUILDKIT=1 /usr/bin/docker build --quiet --tag provision/buildkit-probe "$buildkit_probe" >/dev/null; then
  echo "BuildKit build through /usr/bin/docker failed (DOCKER_BUILDKIT=1)" >&2
  rm -rf "$buildkit_probe"
  exit 1
fi
/usr/bin/docker image rm provision/buildkit-probe >/dev/null
rm -rf "$buildkit_probe"
log "BuildKit: $(/usr/bin/docker --version) under DOCKER_BUILDKIT=1"

if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
if grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
  log "arm64 emulation: $(grep '^flags' /proc/sys/fs/binfmt_misc/qemu-aarch64)"
else
  echo "arm64 emulation could not be enabled (binfmt_misc qemu-aarch64)" >&2
  exit 1
fi
