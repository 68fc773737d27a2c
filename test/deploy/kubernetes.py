#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The Kubernetes manifests of deploy/kubernetes, checked without a
cluster (there is none here): every document parses and has apiVersion,
kind and metadata; selectors match the pod labels; every volume mounted
exists and every volume is mounted; ConfigMap and Secret references exist;
every ${VAR} of the config is set in every container that reads it; the
node pods use host network and capabilities (no privileged), the same sets
as the systemd units; the Service reaches the API port. Then the ConfigMap's
YAML, with each container's environment (Secret values, the node name) put
in as the kubelet would, passes --check-config of the binaries, the
collector's inside a netns that has the interfaces the DaemonSet names.
Usage: kubernetes.py BUILD_DIR"""
import glob
import os
import re
import subprocess
import sys
import tempfile

import yaml

top = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(__file__))
import units  # noqa: E402

failures = 0


def expect(what, ok, detail=""):
    global failures
    if ok:
        print(f"  ok: {what}")
    else:
        print(f"FAIL: {what} {detail}", file=sys.stderr)
        failures += 1


API_VERSIONS = {"Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
                "DaemonSet": "apps/v1", "Deployment": "apps/v1",
                "Kustomization": "kustomize.config.k8s.io/v1beta1"}


def load(kdir):
    docs = []
    for path in sorted(glob.glob(os.path.join(kdir, "*.yaml"))):
        for d in yaml.safe_load_all(open(path)):
            if d:
                docs.append((os.path.basename(path), d))
    return docs


def env_of(container, secrets, node):
    """The environment the kubelet gives the container (secretKeyRef and
    fieldRef resolved); None for an unresolvable reference."""
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
            continue
        vf = e.get("valueFrom", {})
        if "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            sec = secrets.get(ref["name"], {})
            if ref["key"] in sec:
                env[e["name"]] = sec[ref["key"]]
            elif not ref.get("optional"):
                env[e["name"]] = None
        elif "fieldRef" in vf:
            env[e["name"]] = {"spec.nodeName": node}.get(vf["fieldRef"]["fieldPath"])
    return env


def main():
    build = os.path.abspath(sys.argv[1])
    kdir = os.path.join(top, "deploy", "kubernetes")
    docs = load(kdir)
    by_kind = {}
    for f, d in docs:
        kind = d.get("kind")
        expect(f"{f}: {kind}/{d.get('metadata', {}).get('name')} has apiVersion {API_VERSIONS.get(kind)}",
               kind in API_VERSIONS and d.get("apiVersion") == API_VERSIONS[kind], d.get("apiVersion"))
        if kind != "Kustomization":
            md = d.get("metadata", {})
            expect(f"{f}: metadata.name", bool(md.get("name")))
            if kind != "Namespace":
                expect(f"{f}: in namespace guarder", md.get("namespace") == "guarder")
        by_kind.setdefault(kind, []).append(d)

    kust = by_kind["Kustomization"][0]
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(kdir, "*.yaml"))
                   if not p.endswith("kustomization.yaml"))
    expect("kustomization lists every manifest", sorted(kust["resources"]) == files,
           kust["resources"])

    cms = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    secrets = {s["metadata"]["name"]: {k: str(v) for k, v in s.get("stringData", {}).items()}
               for s in by_kind.get("Secret", [])}
    expect("a DaemonSet, a Deployment, a Service, a ConfigMap, a Secret",
           all(by_kind.get(k) for k in ["DaemonSet", "Deployment", "Service", "ConfigMap", "Secret"]))
    conf_text = cms["guarder-config"]["data"]["guarder.yaml"]
    conf_vars = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", conf_text))
    expect(f"the config takes {sorted(conf_vars)} from the environment", "GUARDER_API_TOKEN" in conf_vars)
    expect("no secret value in the ConfigMap",
           not any(v and v in conf_text for s in secrets.values() for v in s.values()))

    workloads = by_kind["DaemonSet"] + by_kind["Deployment"]
    readers = []  # (workload, container, env)
    for w in workloads:
        name = f"{w['kind']}/{w['metadata']['name']}"
        tpl = w["spec"]["template"]
        sel = w["spec"]["selector"]["matchLabels"]
        labels = tpl["metadata"]["labels"]
        expect(f"{name}: selector matches the pod labels",
               sel and all(labels.get(k) == v for k, v in sel.items()), (sel, labels))
        vols = {v["name"]: v for v in tpl["spec"].get("volumes", [])}
        mounted = set()
        for c in tpl["spec"]["containers"]:
            for m in c.get("volumeMounts", []):
                expect(f"{name}/{c['name']}: volume {m['name']} exists", m["name"] in vols)
                mounted.add(m["name"])
            sc = c.get("securityContext", {})
            expect(f"{name}/{c['name']}: not privileged, no privilege escalation",
                   not sc.get("privileged") and sc.get("allowPrivilegeEscalation") is False)
            expect(f"{name}/{c['name']}: drops ALL capabilities",
                   sc.get("capabilities", {}).get("drop") == ["ALL"])
            expect(f"{name}/{c['name']}: read-only root filesystem",
                   sc.get("readOnlyRootFilesystem") is True)
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    expect(f"{name}/{c['name']}: secret {ref['name']}/{ref['key']} exists",
                           ref["key"] in secrets.get(ref["name"], {}))
            if any(m["mountPath"] == "/etc/guarder" for m in c.get("volumeMounts", [])):
                env = env_of(c, secrets, "k8s-node-1")
                missing = sorted(v for v in conf_vars if env.get(v) is None)
                expect(f"{name}/{c['name']}: sets every ${{VAR}} of the config", not missing, missing)
                readers.append((w, c, env))
        expect(f"{name}: every volume is mounted", set(vols) == mounted, set(vols) - mounted)
        for v in vols.values():
            if "configMap" in v:
                expect(f"{name}: ConfigMap {v['configMap']['name']} exists", v["configMap"]["name"] in cms)

    # The node pods.
    ds = by_kind["DaemonSet"][0]
    spec = ds["spec"]["template"]["spec"]
    expect("DaemonSet: host network", spec.get("hostNetwork") is True)
    expect("DaemonSet: ClusterFirstWithHostNet DNS", spec.get("dnsPolicy") == "ClusterFirstWithHostNet")
    hostpaths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    expect("DaemonSet: the node's bpffs and /sys/kernel/btf mounted",
           "/sys/fs/bpf" in hostpaths.values() and "/sys/kernel/btf" in hostpaths.values())
    cfg = yaml.safe_load(conf_text)
    unit_dir = os.path.join(build, "deploy")
    for cname, unit in [("collector", "guarder-collector"), ("api", "guarder-api")]:
        c = next(x for x in spec["containers"] if x["name"] == cname)
        add = set(c["securityContext"]["capabilities"]["add"])
        want = {x.removeprefix("CAP_") for x in units.values(
            units.parse(os.path.join(unit_dir, unit + ".service")), "Service", "AmbientCapabilities")}
        expect(f"DaemonSet/{cname}: capabilities {sorted(add)} = {unit}.service's", add == want, want)
        pins = [m for m in c["volumeMounts"] if m["name"] == "bpffs"]
        expect(f"DaemonSet/{cname}: bpf.pin_path on the bpffs mount",
               pins and cfg["bpf"]["pin_path"].startswith(pins[0]["mountPath"] + "/"))
    api = next(x for x in spec["containers"] if x["name"] == "api")
    svc = by_kind["Service"][0]
    sel = svc["spec"]["selector"]
    expect("Service selects the node pods",
           all(ds["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()))
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    sp = svc["spec"]["ports"][0]
    listen_port = int(str(cfg["api"]["listen"]).rsplit(":", 1)[1])
    expect("Service targets the API's port = api.listen",
           ports.get(sp["targetPort"], sp["targetPort"]) == listen_port == sp["port"], (ports, sp))
    aispec = by_kind["Deployment"][0]["spec"]
    expect("AI Deployment: 2+ workers, not root", aispec["replicas"] >= 2
           and aispec["template"]["spec"]["securityContext"].get("runAsNonRoot") is True)

    # The config as each container would load it: every daemon reads it.
    binaries = sorted({c["command"][0].rsplit("/", 1)[1] for _, c, _ in readers})
    expect("the config is read by guarder-collector, guarder-api and guarder-ai",
           binaries == ["guarder-ai", "guarder-api", "guarder-collector"], binaries)
    ns = None
    with tempfile.TemporaryDirectory(prefix="guarder-dp-k8s.") as tmp:
        path = os.path.join(tmp, "guarder.yaml")
        open(path, "w").write(conf_text)
        if os.geteuid() == 0:
            ns = "gdr-dp-k8s-" + os.urandom(3).hex()
            subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            for w, c, env in readers:
                binary = c["command"][0].rsplit("/", 1)[1]
                exe = {"guarder-collector": "collector", "guarder-api": "api",
                       "guarder-ai": "ai"}[binary]
                exe = os.path.join(build, exe, binary)
                what = f"{w['metadata']['name']}/{c['name']}: {binary} --check-config"
                if not os.path.exists(exe):
                    expect(what, False, f"{exe} not built")
                    continue
                cmd = [exe, "-c", path, "--check-config"]
                if binary == "guarder-collector":
                    if not ns:
                        print(f"  note: not root, no netns: {what} not run")
                        continue
                    for ifc in env["GUARDER_INTERFACES"].split(","):
                        subprocess.run(["ip", "-n", ns, "link", "add", ifc.strip(), "type", "veth", "peer", "name", ifc.strip() + "p"],
                                       check=False, capture_output=True)
                    cmd = ["ip", "netns", "exec", ns] + cmd
                r = subprocess.run(cmd, env={"PATH": os.environ["PATH"], **env},
                                   capture_output=True, text=True)
                expect(what, r.returncode == 0, r.stderr.strip())
                if r.returncode == 0:
                    dump = yaml.safe_load(r.stdout)
                    expect(f"{what}: node name from the node, token redacted",
                           dump["node"]["name"] == "k8s-node-1"
                           and dump["api"]["token"] == "<redacted>", dump.get("node"))
        finally:
            if ns:
                subprocess.run(["ip", "netns", "del", ns], check=False)
    print("  note: no Kubernetes cluster here: not applied (kubectl apply -k deploy/kubernetes)")
    if failures:
        print(f"FAIL: {failures} checks", file=sys.stderr)
        sys.exit(1)
    print("PASS: Kubernetes manifests")


if __name__ == "__main__":
    main()
