#!/usr/bin/env bash
# Builds the bilipulse image offline with podman and runs it as far as this machine can:
#
#   bash deploy/image.sh setup    podman, buildah, runc, debootstrap (apt, as root); a podman
#                                 config for this machine kind; a Debian base image made with
#                                 debootstrap (no registry is reachable), tagged as the
#                                 debian:bookworm-slim that the Dockerfiles start from
#   bash deploy/image.sh build    the image localhost/bilipulse:dev from deploy/Dockerfile.host,
#                                 with the binaries of target/$BILIPULSE_IMAGE_PROFILE (debug)
#                                 and the dashboard built on the host
#   bash deploy/image.sh check    every binary in the image answers --help; every service passes
#                                 --check-config with the local-sim overlay's environment
#   bash deploy/image.sh play     the rendered k8s/overlays/local-sim workloads brought up from
#                                 the image with `podman kube play --network=host` (what podman
#                                 cannot play is said below), until rooms are connected and
#                                 summaries flow; then `podman kube down`
#   bash deploy/image.sh all      the four in order (what deploy/test.sh runs under CI)
#
# Needs root (podman's rootful mode; the machine's kernel and cgroup mode rule out rootless
# here), Debian's apt and mirror, and the host binaries built (cargo build --workspace --bins).
# See ../shared/infra.md §9 for why runc and lower ulimits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${BILIPULSE_TOOLS:-$ROOT/.tools}"
PROFILE="${BILIPULSE_IMAGE_PROFILE:-debug}"
IMAGE=localhost/bilipulse:dev
BASE=localhost/debian:bookworm
BINARIES="$(sed -n 's/^ARG BINARIES="\(.*\)"$/\1/p' "$ROOT/deploy/Dockerfile")"
export CONTAINERS_CONF="$TOOLS/containers.conf"
# Debian bookworm's packages (podman 4.3, docker-compose 1.29 for validating deploy/compose.yaml).
PACKAGES="podman buildah runc uidmap debootstrap docker-compose"

# shellcheck source=deploy/lib/log.sh
source "$ROOT/deploy/lib/log.sh"

setup() {
    local missing=()
    for c in podman buildah runc debootstrap newuidmap docker-compose; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    if ((${#missing[@]})); then
        [[ $EUID -eq 0 ]] || die "missing ${missing[*]}: apt-get install $PACKAGES (as root)"
        log "installing $PACKAGES (apt)"
        # shellcheck disable=SC2086 # one word per package
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null; } ||
            die "apt-get install $PACKAGES failed"
    fi
    mkdir -p "$TOOLS"
    # crun fails in this machine kind's hybrid cgroup mode; podman's default ulimits exceed what
    # root may set in its container.
    cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
    if ! podman image exists "$BASE"; then
        local mirror rootfs
        mirror="$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)"
        [[ -n $mirror ]] || mirror="$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1)"
        [[ -n $mirror ]] || die "no Debian mirror found in /etc/apt/sources.list{,.d}"
        rootfs="$(mktemp -d)"
        log "making the base image with debootstrap from $mirror (about a minute)"
        debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null ||
            die "debootstrap failed (see $rootfs/debootstrap/debootstrap.log)"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -c . | podman import -q - "$BASE" >/dev/null
        rm -rf "$rootfs"
    fi
    podman tag "$BASE" docker.io/library/debian:bookworm-slim
    log "setup: $(podman --version), base image $BASE"
}

# The runtime stages of the two Dockerfiles must not drift apart: every instruction but COPY
# (which differs in its source) after the "runtime" marker, compared.
check_dockerfiles_agree() {
    local a b
    a="$(sed -n '/^# --- runtime/,$p' "$ROOT/deploy/Dockerfile" | grep -E '^(FROM|RUN|ENV|USER|EXPOSE|CMD|  |    )')"
    b="$(sed -n '/^# --- runtime/,$p' "$ROOT/deploy/Dockerfile.host" | grep -E '^(FROM|RUN|ENV|USER|EXPOSE|CMD|  |    )')"
    [[ "$a" == "$b" ]] || die "the runtime stages of deploy/Dockerfile and deploy/Dockerfile.host differ:
$(diff <(echo "$a") <(echo "$b") || true)"
}

build() {
    check_dockerfiles_agree
    local ctx="$TOOLS/image-context" b
    rm -rf "$ctx" && mkdir -p "$ctx/bin"
    for b in $BINARIES; do
        [[ -x "$ROOT/target/$PROFILE/$b" ]] ||
            die "target/$PROFILE/$b is missing: cargo build --workspace --bins first"
        cp "$ROOT/target/$PROFILE/$b" "$ctx/bin/"
    done
    [[ -f "$ROOT/services/gateway/dashboard/dist/index.html" ]] ||
        die "the dashboard is not built: bash deploy/install-tools.sh"
    cp -r "$ROOT/services/gateway/dashboard/dist" "$ctx/dashboard"
    log "building $IMAGE from deploy/Dockerfile.host (binaries of target/$PROFILE)"
    podman build -q -f "$ROOT/deploy/Dockerfile.host" -t "$IMAGE" "$ctx" >/dev/null
    log "built $IMAGE: $(podman image inspect "$IMAGE" --format '{{.Size}}') bytes, user $(podman image inspect "$IMAGE" --format '{{.Config.User}}')"
}

check() {
    local b
    for b in $BINARIES; do
        podman run --rm --network=none "$IMAGE" "$b" --help >/dev/null ||
            die "$b --help failed in the image"
    done
    [[ "$(podman run --rm --network=none "$IMAGE" id -u)" == 10001 ]] || die "the image does not run as uid 10001"
    local env=(-e BILIPULSE_NATS_URL=nats://nats:4222 -e BILIPULSE_NATS_USER=svc -e BILIPULSE_NATS_PASSWORD=x
        -e BILIPULSE_ADMIN_ADDR=0.0.0.0:9090 -e BILIPULSE_LOG_FORMAT=json -e BILIPULSE_STREAM_REPLICAS=3)
    for b in bilipulse-ingester bilipulse-windower bilipulse-gateway bilipulse-sim; do
        podman run --rm --network=none "${env[@]}" "$IMAGE" "$b" --check-config >/dev/null ||
            die "$b --check-config failed in the image"
    done
    # The dashboard is where the gateway looks for it.
    podman run --rm --network=none "$IMAGE" test -f /usr/share/bilipulse/dashboard/index.html ||
        die "the dashboard is missing from the image"
    # deploy/compose.yaml: valid for Compose, and the same simulated rooms as the local stack
    # and the local-sim overlay.
    docker-compose -f "$ROOT/deploy/compose.yaml" config -q || die "deploy/compose.yaml is invalid"
    local stack compose k8s
    stack="$(sed -n 's/^    "\([0-9][^"]*\)";$/\1/p' "$ROOT/services/stack/src/plan.rs" | head -1)"
    compose="$(sed -n 's/^ *- --rooms=\(.*\)$/\1/p' "$ROOT/deploy/compose.yaml")"
    k8s="$(sed -n 's/^ *- --rooms=\(.*\)$/\1/p' "$ROOT/k8s/overlays/local-sim/simulator.yaml")"
    [[ -n $stack && $stack == "$compose" && $stack == "$k8s" ]] ||
        die "simulated rooms differ: stack '$stack', compose '$compose', local-sim '$k8s'"
    log "check: $BINARIES answer --help; the services pass --check-config; runs as 10001; compose.yaml valid"
}

play() {
    "$TOOLS/venv/bin/python" "$ROOT/deploy/podman-play.py" --image "$IMAGE" --root "$ROOT" --tools "$TOOLS"
}

case "${1:-all}" in
setup) setup ;;
build) build ;;
check) check ;;
play) play ;;
all) setup && build && check && play ;;
*) die "unknown step '$1' (setup, build, check, play, all)" ;;
esac
