#!/usr/bin/env bash
# Validates the Kubernetes manifests offline, without a cluster:
#
#   bash deploy/validate-k8s.sh              # k8s/base and every k8s/overlays/*
#   bash deploy/validate-k8s.sh DIR...       # just these kustomization directories
#
# For each directory it
#   1. renders it with kubectl's built-in kustomize; any warning (e.g. a deprecated field)
#      counts as a failure, so deprecations are fixed when they appear;
#   2. checks every rendered object against the Kubernetes schemas with kubernetes-validate
#      --strict (unknown fields fail; BILIPULSE_K8S_VERSION, default 1.32.0);
#   3. checks what schemas cannot see: every object in the bilipulse namespace, every ConfigMap
#      or Secret a pod uses present in the output (or optional, or a Secret the operator creates:
#      bilipulse-bilibili), selectors of workloads, Services and PodDisruptionBudgets matching
#      pods, NetworkPolicies selecting some pod, every pod that talks to NATS labelled for its
#      policy, named probe and Service ports existing, no environment variable set twice, and
#      every program a bilipulse-image container runs built into that image (BINARIES in
#      deploy/Dockerfile).
#
# Needs kubectl 1.27+ (the machine's, or .tools/kubectl) and kubernetes-validate in .tools/venv,
# both from deploy/install-tools.sh. Without kubectl it fails under CI=true and skips otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${BILIPULSE_TOOLS:-$ROOT/.tools}"
VALIDATE="$TOOLS/venv/bin/kubernetes-validate"
PYTHON="$TOOLS/venv/bin/python"
K8S_VERSION="${BILIPULSE_K8S_VERSION:-1.32.0}"
NAMESPACE=bilipulse
# Secrets the manifests reference but that operators create themselves (never in the repo).
EXTERNAL_SECRETS=bilipulse-bilibili,bilipulse-nats-users
# The programs the bilipulse image holds: deploy/Dockerfile's BINARIES.
IMAGE_BINARIES="$(sed -n 's/^ARG BINARIES="\(.*\)"$/\1/p' "$ROOT/deploy/Dockerfile")"

# shellcheck source=deploy/lib/log.sh
source "$ROOT/deploy/lib/log.sh"
in_ci() { [[ -n "${CI:-}" && "${CI}" != "false" && "${CI}" != "0" ]]; }
indent() { sed 's/^/    /' >&2; }

# The machine's kubectl, else the one deploy/install-tools.sh installs where there is none.
if command -v kubectl >/dev/null 2>&1; then
    KUBECTL=kubectl
elif [[ -x "$TOOLS/kubectl/bin/kubectl" ]]; then
    KUBECTL="$TOOLS/kubectl/bin/kubectl"
else
    msg="kubectl is not on PATH nor in $TOOLS/kubectl, so the manifests cannot be rendered;"
    msg+=" run deploy/install-tools.sh, or install kubectl 1.27 or newer (Debian's"
    msg+=" kubernetes-client package is 1.20, too old for the kustomize features used)."
    if in_ci; then
        die "$msg"
    fi
    log "SKIPPED: $msg"
    exit 0
fi
[[ -x "$VALIDATE" ]] || die "$VALIDATE is missing; run deploy/install-tools.sh first"
[[ -n "$IMAGE_BINARIES" ]] || die "no ARG BINARIES=\"...\" line in deploy/Dockerfile"

if (($#)); then
    dirs=("$@")
else
    dirs=("$ROOT/k8s/base")
    for d in "$ROOT"/k8s/overlays/*/; do
        dirs+=("${d%/}")
    done
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Step 3, over one rendered stream: prints one problem per line, or a summary of the objects.
check_refs() {
    "$PYTHON" - "$1" "$NAMESPACE" "$EXTERNAL_SECRETS" "$IMAGE_BINARIES" <<'PY'
import sys
from collections import Counter

import yaml

path, namespace, external = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
binaries = set(sys.argv[4].split())
with open(path) as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
problems = []
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass", "PriorityClass", "CustomResourceDefinition"}


def name(d):
    return f"{d['kind']}/{d['metadata']['name']}"


def pod_template(d):
    spec = d.get("spec", {})
    if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return spec.get("template")
    if d["kind"] == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template")
    return None


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


objects = {(d["kind"], d["metadata"]["name"]) for d in docs}
if ("Namespace", namespace) not in objects:
    problems.append(f"no Namespace {namespace}")
for d in docs:
    ns = d["metadata"].get("namespace")
    if d["kind"] not in CLUSTER_SCOPED and ns != namespace:
        problems.append(f"{name(d)}: namespace {ns!r}, want {namespace!r}")

pods = []  # (workload, labels, container ports by name)
for d in docs:
    tmpl = pod_template(d)
    if tmpl is None:
        continue
    labels = tmpl.get("metadata", {}).get("labels", {})
    spec = tmpl.get("spec", {})
    selector = d["spec"].get("selector", {}).get("matchLabels")
    if d["kind"] != "Job" and not matches(selector, labels):
        problems.append(f"{name(d)}: selector {selector} does not match its pod labels")
    ports = {}

    def need(kind, ref, what):
        if ref.get("optional"):
            return
        if kind == "Secret" and ref["name"] in external:
            return
        if (kind, ref["name"]) not in objects:
            problems.append(f"{name(d)}: {what} uses {kind} {ref['name']!r}, which is not rendered")

    for vol in spec.get("volumes", []):
        if "configMap" in vol:
            need("ConfigMap", vol["configMap"], f"volume {vol['name']}")
        if "secret" in vol:
            need("Secret", {"name": vol["secret"]["secretName"], **vol["secret"]}, f"volume {vol['name']}")
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        where = f"container {c['name']}"
        # The bilipulse image (under any registry, tag or digest) holds only what the
        # Dockerfile builds; a program missing there fails only at the pod's start.
        image = c.get("image", "").split("@")[0].rsplit("/", 1)[-1].split(":")[0]
        if image == "bilipulse" and c.get("command"):
            program = c["command"][0]
            if program not in binaries:
                problems.append(f"{name(d)}: {where} runs {program!r}, which deploy/Dockerfile "
                                f"does not build (BINARIES: {' '.join(sorted(binaries))})")
        for p in c.get("ports", []):
            if "name" in p:
                ports[p["name"]] = p["containerPort"]
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                need("ConfigMap", src["configMapRef"], where)
            if "secretRef" in src:
                need("Secret", src["secretRef"], where)
        for var, count in Counter(e["name"] for e in c.get("env", [])).items():
            if count > 1:
                problems.append(f"{name(d)}: {where} sets {var} {count} times")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                need("ConfigMap", ref["configMapKeyRef"], f"{where} env {e['name']}")
            if "secretKeyRef" in ref:
                need("Secret", ref["secretKeyRef"], f"{where} env {e['name']}")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            port = c.get(probe, {}).get("httpGet", {}).get("port")
            if isinstance(port, str) and port not in {p.get("name") for p in c.get("ports", [])}:
                problems.append(f"{name(d)}: {where} {probe} uses port {port!r}, not declared")
    # A pod that talks to NATS (it takes the services' environment, which names the NATS
    # URL) must carry the label the NetworkPolicy of NATS admits, or it is cut off where
    # policies are enforced, which no schema and no policy-less test cluster would show.
    uses_env = any(src.get("configMapRef", {}).get("name", "").startswith("bilipulse-env")
                   for c in spec.get("containers", []) for src in c.get("envFrom", []))
    if uses_env and labels.get("bilipulse.io/nats-client") != "true":
        problems.append(f"{name(d)}: uses bilipulse-env (NATS) but its pods lack the label "
                        "bilipulse.io/nats-client: \"true\" that network/policies.yaml admits")
    pods.append((name(d), labels, ports))

for d in docs:
    if d["kind"] == "Service":
        selector = d["spec"].get("selector")
        hits = [p for p in pods if matches(selector, p[1])]
        if not hits:
            problems.append(f"{name(d)}: selector {selector} matches no pod")
        for port in d["spec"].get("ports", []):
            target = port.get("targetPort")
            if isinstance(target, str):
                for workload, _, ports in hits:
                    if target not in ports:
                        problems.append(f"{name(d)}: targetPort {target!r} not declared by {workload}")
    if d["kind"] == "NetworkPolicy":
        sel = d["spec"].get("podSelector", {})
        if sel and not any(matches(sel.get("matchLabels"), p[1]) or (
                "matchExpressions" in sel and all(
                    p[1].get(e["key"]) in e.get("values", []) for e in sel["matchExpressions"]))
                for p in pods):
            problems.append(f"{name(d)}: podSelector {sel} matches no pod")
    if d["kind"] == "PodDisruptionBudget":
        selector = d["spec"].get("selector", {}).get("matchLabels")
        if not any(matches(selector, p[1]) for p in pods):
            problems.append(f"{name(d)}: selector {selector} matches no pod")

if problems:
    print("\n".join(problems))
    sys.exit(1)
kinds = Counter(d["kind"] for d in docs)
print(f"{len(docs)} objects: " + ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(kinds.items())))
PY
}

failed=0
for dir in "${dirs[@]}"; do
    rel="${dir#"$ROOT"/}"
    out="$work/rendered.yaml"
    err="$work/stderr"
    if ! "$KUBECTL" kustomize "$dir" >"$out" 2>"$err"; then
        log "FAIL $rel: kubectl kustomize failed:"
        indent <"$err"
        failed=1
        continue
    fi
    if [[ -s "$err" ]]; then
        log "FAIL $rel: kubectl kustomize warned (treated as an error):"
        indent <"$err"
        failed=1
        continue
    fi
    # kubernetes-validate exits 0 on kinds it has no schema for (it only warns), so anything
    # but a "passed" line is a failure here.
    if ! report="$("$VALIDATE" --strict -k "$K8S_VERSION" - <"$out" 2>&1)" ||
        grep -qv ' passed for resource ' <<<"$report"; then
        log "FAIL $rel: schema validation against Kubernetes $K8S_VERSION:"
        indent <<<"$report"
        failed=1
        continue
    fi
    if ! refs="$(check_refs "$out" 2>&1)"; then
        log "FAIL $rel: references:"
        indent <<<"$refs"
        failed=1
        continue
    fi
    log "ok   $rel: $refs; schemas of Kubernetes $K8S_VERSION (strict) passed"
done

if ((failed)); then
    die "some manifests did not validate"
fi
log "all ${#dirs[@]} kustomizations valid"
