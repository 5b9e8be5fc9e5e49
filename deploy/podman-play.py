"""Plays the rendered k8s/overlays/local-sim workloads from the bilipulse image with
`podman kube play --network=host`, as far as podman 4.3 plays them, and checks that rooms get
connected and summaries flow. Run by `deploy/image.sh play`.

What podman plays here: the Deployments (simulator, ingester, windower, gateway) as one pod
each, and the rooms Job's pod template as a Pod with its restart policy; with their image,
command, environment, security context (non-root uid, read-only root, dropped capabilities,
no privilege escalation) and emptyDir volumes. What it does not, and what stands in for it:

* StatefulSet nats (podman cannot play StatefulSets): one nats-server on the host, loading the
  overlay's own auth.conf with the passwords of its generated Secret, so every service still
  connects as its own least-privilege user.
* Services, Ingress, HorizontalPodAutoscaler, PodDisruptionBudgets, NetworkPolicies: no podman
  counterpart. With host networking the pods reach each other on 127.0.0.1, so the addresses
  that name Services (nats:4222, bilipulse-sim:9400) are rewritten to loopback ports, and every
  pod's admin listener gets its own port (all are 9090 in the cluster).
* ConfigMaps and Secrets as environment: resolved here into literal variables (podman 4.3
  takes ConfigMaps only as separate files and no Secret objects); the gateway's token Secret
  volume becomes BILIPULSE_API_TOKEN.
* Probes and resources: dropped (podman turns probes into healthchecks that need the named
  ports, which host networking renumbers; cgroup limits are not what this rehearses).
* replicas: one pod per Deployment (podman plays a single replica).
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

PLAYED = {"Deployment", "Job"}
NOT_PLAYED = {"StatefulSet", "Service", "Ingress", "HorizontalPodAutoscaler",
              "PodDisruptionBudget", "NetworkPolicy"}
# Read here: into the pods' environment, and nats-server's configuration and passwords.
RESOLVED = {"Namespace", "ConfigMap", "Secret"}


def log(msg):
    print(f"image: play: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kubectl(tools):
    if shutil.which("kubectl"):
        return "kubectl"
    return os.path.join(tools, "kubectl/bin/kubectl")


def render(root, tools):
    out = subprocess.run([kubectl(tools), "kustomize", os.path.join(root, "k8s/overlays/local-sim")],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def secrets_and_maps(docs):
    maps, secrets = {}, {}
    for d in docs:
        if d["kind"] == "ConfigMap":
            maps[d["metadata"]["name"]] = d.get("data", {})
        if d["kind"] == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in d.get("data", {}).items()}
            data.update(d.get("stringData", {}))
            secrets[d["metadata"]["name"]] = data
    return maps, secrets


def generated(objects, prefix):
    """A generated ConfigMap or Secret, whose rendered name carries a content hash."""
    return next(v for k, v in objects.items() if k == prefix or k.startswith(prefix + "-"))


def resolve_env(container, pod_name, maps, secrets, overrides):
    """envFrom, then env (which wins, as in Kubernetes), then the loopback overrides."""
    env = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(maps[src["configMapRef"]["name"]])
        if "secretRef" in src:
            env.update(secrets[src["secretRef"]["name"]])
    for e in container.get("env", []):
        ref = e.get("valueFrom")
        if ref is None:
            env[e["name"]] = e.get("value", "")
        elif "configMapKeyRef" in ref:
            r = ref["configMapKeyRef"]
            if r["name"] in maps and r["key"] in maps[r["name"]]:
                env[e["name"]] = maps[r["name"]][r["key"]]
        elif "secretKeyRef" in ref:
            r = ref["secretKeyRef"]
            if r["name"] in secrets and r["key"] in secrets[r["name"]]:
                env[e["name"]] = secrets[r["name"]][r["key"]]
            elif not r.get("optional"):
                raise SystemExit(f"Secret {r['name']}/{r['key']} is not rendered")
        elif "fieldRef" in ref and ref["fieldRef"]["fieldPath"] == "metadata.name":
            env[e["name"]] = pod_name
    env.update(overrides)
    return [{"name": k, "value": str(v)} for k, v in sorted(env.items())]


def playable(d, image, maps, secrets, ports):
    """The workload as podman plays it (see the module's documentation)."""
    name = d["metadata"]["name"]
    tmpl = d["spec"]["template"]
    spec = dict(tmpl["spec"])
    spec.pop("topologySpreadConstraints", None)
    admin = free_port()
    overrides = {
        "BILIPULSE_NATS_URL": f"nats://127.0.0.1:{ports['nats']}",
        "BILIPULSE_ADMIN_ADDR": f"127.0.0.1:{admin}",
        "BILIPULSE_STREAM_REPLICAS": "1",
        "BILIPULSE_BILI_API_BASE": f"http://127.0.0.1:{ports['sim']}",
        "BILIPULSE_BILI_LIVE_BASE": f"http://127.0.0.1:{ports['sim']}",
        "BILIPULSE_SIM_LISTEN": f"127.0.0.1:{ports['sim']}",
        "BILIPULSE_SIM_PUBLIC_HOST": "127.0.0.1",
        "BILIPULSE_GATEWAY_LISTEN": f"127.0.0.1:{ports['gateway']}",
    }
    containers = []
    for c in spec["containers"]:
        c = dict(c)
        env = resolve_env(c, name, maps, secrets, overrides)
        if any(v["name"] == "BILIPULSE_API_TOKEN_FILE" for v in env):
            env = [v for v in env if v["name"] != "BILIPULSE_API_TOKEN_FILE"]
            vol = next(v for v in spec["volumes"] if v["name"] == "api-token")
            env.append({"name": "BILIPULSE_API_TOKEN", "value": secrets[vol["secret"]["secretName"]]["token"]})
            c["volumeMounts"] = [m for m in c.get("volumeMounts", []) if m["name"] != "api-token"]
        c["env"] = env
        c.pop("envFrom", None)
        # Flags name the cluster's addresses too (the simulator's --listen and --public-host).
        flags = {"--listen": overrides["BILIPULSE_SIM_LISTEN"], "--public-host": "127.0.0.1"}
        c["args"] = [f"{a.split('=', 1)[0]}={flags[a.split('=', 1)[0]]}"
                     if "=" in a and a.split("=", 1)[0] in flags else a for a in c.get("args", [])]
        # emptyDir volumes by pod: podman names a volume after the volume's name, which the
        # pods share ("tmp").
        for m in c.get("volumeMounts", []):
            m["name"] = f"{name}-{m['name']}"
        for k in ("readinessProbe", "livenessProbe", "startupProbe", "resources", "ports"):
            c.pop(k, None)
        c["image"] = image
        c["imagePullPolicy"] = "Never"
        containers.append(c)
    spec["containers"] = containers
    spec["volumes"] = [dict(v, name=f"{name}-{v['name']}") for v in spec.get("volumes", [])
                       if "secret" not in v]
    meta = {"name": name, "labels": tmpl["metadata"].get("labels", {})}
    if d["kind"] == "Job":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}, None
    return ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
             "spec": {"replicas": 1, "selector": d["spec"]["selector"],
                      "template": {"metadata": meta, "spec": spec}}}, admin)


def wait_for(what, within, check):
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last is True:
                return
        except Exception as e:  # noqa: BLE001 - the reason is reported on timeout
            last = e
        time.sleep(0.5)
    raise SystemExit(f"image: play: ERROR: {what} not within {within}s (last: {last})")


def http_ok(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200


def start_nats(root, tools, docs, secrets, port, monitor, work):
    auth = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("nats-config"))
    with open(os.path.join(work, "auth.conf"), "w") as f:
        f.write(auth["data"]["auth.conf"])
    with open(os.path.join(work, "nats.conf"), "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor}\n"
                f"jetstream {{ store_dir: \"{work}/js\" }}\ninclude ./auth.conf\n")
    env = dict(os.environ)
    for user, pw in generated(secrets, "bilipulse-nats-users").items():
        env[f"NATS_PASSWORD_{user.upper()}"] = pw
    logf = open(os.path.join(work, "nats.log"), "w")
    proc = subprocess.Popen([os.path.join(tools, "nats/bin/nats-server"), "-c", os.path.join(work, "nats.conf")],
                            env=env, stdout=logf, stderr=subprocess.STDOUT)
    wait_for("nats-server", 20, lambda: http_ok(f"http://127.0.0.1:{monitor}/healthz"))
    return proc


def check_security():
    """Every played container runs as the manifests say: uid 10001, read-only root, no
    capabilities, no privilege escalation."""
    out = subprocess.run(["podman", "ps", "--format", "json"], check=True, capture_output=True, text=True).stdout
    containers = [c for c in json.loads(out) if not c.get("IsInfra")]
    if not containers:
        raise SystemExit("image: play: ERROR: no container is running")
    for c in containers:
        info = json.loads(subprocess.run(["podman", "inspect", c["Id"]], check=True,
                                         capture_output=True, text=True).stdout)[0]
        name, host = info["Name"], info["HostConfig"]
        problems = []
        if not info["Config"]["User"].startswith("10001"):
            problems.append(f"user {info['Config']['User']!r}")
        if not host.get("ReadonlyRootfs"):
            problems.append("writable root")
        if host.get("CapAdd") or info.get("EffectiveCaps"):
            problems.append(f"capabilities {info.get('EffectiveCaps')}")
        if "no-new-privileges" not in " ".join(host.get("SecurityOpt") or []):
            problems.append("privilege escalation allowed")
        if problems:
            raise SystemExit(f"image: play: ERROR: {name}: {', '.join(problems)}")
    log(f"{len(containers)} containers run as uid 10001, read-only, without capabilities or privilege escalation")


def cli(root, port, secrets, *args, timeout=60):
    env = {"PATH": os.environ.get("PATH", ""), "BILIPULSE_NATS_URL": f"nats://127.0.0.1:{port}",
           "BILIPULSE_NATS_USER": "admin", "BILIPULSE_NATS_PASSWORD": generated(secrets, "bilipulse-nats-users")["admin"]}
    return subprocess.run([os.path.join(root, "target/debug/bilipulse"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--tools", required=True)
    a = ap.parse_args()

    docs = render(a.root, a.tools)
    maps, secrets = secrets_and_maps(docs)
    ports = {"nats": free_port(), "monitor": free_port(), "sim": free_port(), "gateway": free_port()}
    work = tempfile.mkdtemp(prefix="bilipulse-play-")
    played, admins, skipped = [], {}, []
    for d in docs:
        if d["kind"] in PLAYED:
            obj, admin = playable(d, a.image, maps, secrets, ports)
            played.append(obj)
            if admin:
                admins[d["metadata"]["name"]] = admin
        elif d["kind"] in NOT_PLAYED:
            skipped.append(f"{d['kind']}/{d['metadata']['name']}")
        elif d["kind"] in RESOLVED:
            pass
        else:
            raise SystemExit(f"image: play: ERROR: {d['kind']} is neither played nor known as unplayable")
    kube = os.path.join(work, "local-sim.yaml")
    with open(kube, "w") as f:
        yaml.safe_dump_all(played, f, sort_keys=False)
    log(f"playing {', '.join(o['kind'] + '/' + o['metadata']['name'] for o in played)}")
    log(f"not played (no podman counterpart; see deploy/podman-play.py): {', '.join(skipped)}")

    nats = start_nats(a.root, a.tools, docs, secrets, ports["nats"], ports["monitor"], work)
    try:
        subprocess.run(["podman", "kube", "play", "--network=host", "--log-driver=k8s-file", kube],
                       check=True, stdout=subprocess.DEVNULL)
        try:
            wait_for("the simulator", 60, lambda: http_ok(f"http://127.0.0.1:{ports['sim']}/healthz"))
            for name, admin in admins.items():
                if name != "bilipulse-sim":
                    wait_for(f"{name} ready", 90, lambda: http_ok(f"http://127.0.0.1:{admin}/readyz"))
            log("every pod's service is ready (its /readyz)")
            check_security()

            def connected():
                out = cli(a.root, ports["nats"], secrets, "rooms", "ls")
                rows = [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]
                states = [r[3] for r in rows if len(r) > 3]
                return True if len(states) == 5 and all(s == "connected" for s in states) else out.stdout
            wait_for("the rooms Job's five rooms connected", 120, connected)
            log("the five rooms registered by the Job are connected")
            tail = cli(a.root, ports["nats"], secrets, "tail", "--count", "1", "bili.summary.>", timeout=90)
            if tail.returncode != 0 or not tail.stdout.strip():
                raise SystemExit(f"image: play: ERROR: no summary: {tail.stderr}")
            subject = json.loads(tail.stdout.splitlines()[0])["subject"]
            dashboard = f"http://127.0.0.1:{ports['gateway']}/"
            if not http_ok(dashboard):
                raise SystemExit("image: play: ERROR: the gateway does not serve the dashboard")
            log(f"summaries flow ({subject}); the gateway serves the dashboard")
        except BaseException:
            pods = subprocess.run(["podman", "pod", "ps", "--format", "{{.Name}}"],
                                  capture_output=True, text=True, check=False).stdout.split()
            for pod in pods:
                log(f"last log lines of {pod}:")
                subprocess.run(["podman", "pod", "logs", "--tail", "20", pod], check=False)
            raise
        finally:
            subprocess.run(["podman", "kube", "down", kube], check=False, stdout=subprocess.DEVNULL)
    finally:
        nats.terminate()
        nats.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    log("ok: local-sim played from the image, torn down")


if __name__ == "__main__":
    main()
