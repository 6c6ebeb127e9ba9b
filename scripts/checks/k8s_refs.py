"""Cross-reference checks of a rendered kustomize overlay, beyond what a schema can see.

    kubectl kustomize k8s/overlays/dev | python scripts/checks/k8s_refs.py dev

Schema validation (kubernetes-validate) proves each object is well formed; this proves they
fit together: selectors match the pod labels, Services and probes name ports the pods have,
every ConfigMap and Secret a pod uses is rendered (or is one of the Secrets created out of
band, listed below), autoscalers and disruption budgets point at workloads, the ingress at
a Service, and every pod meets the security baseline of the issue (non-root, read-only root
filesystem, no capabilities, RuntimeDefault seccomp, requests and limits, probes).
Prints one line per problem; exits 1 when there is any.
"""

import sys

import yaml

# (kind, name) of what an overlay expects to exist in the cluster rather than in its output
# (docs/deployment.md says how each is created).
OUT_OF_BAND = {
    "dev": {
        ("Secret", "railrush-jwt-public"),
        ("Secret", "railrush-auth-keys"),
        ("Secret", "railrush-ticket-keys"),
    },
    "prod": {
        ("Secret", "railrush-jwt-public"),
        ("Secret", "railrush-auth-keys"),
        ("Secret", "railrush-ticket-keys"),
        ("Secret", "railrush-auth-env"),
        ("Secret", "railrush-train-env"),
        ("Secret", "railrush-booking-env"),
        ("Secret", "railrush-payment-env"),
        ("Secret", "railrush-notification-env"),
        ("Secret", "railrush-payment-gateway"),
        ("Secret", "railrush-sms-provider"),
        ("ConfigMap", "railrush-store-ca"),
    },
}
WORKLOADS = {"Deployment", "StatefulSet"}


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_refs(pod):
    """(kind, name) of every ConfigMap and Secret the pod spec uses."""
    refs = set()
    for vol in pod.get("volumes", []):
        if "secret" in vol:
            refs.add(("Secret", vol["secret"]["secretName"]))
        if "configMap" in vol:
            refs.add(("ConfigMap", vol["configMap"]["name"]))
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for src in c.get("envFrom", []):
            if "secretRef" in src:
                refs.add(("Secret", src["secretRef"]["name"]))
            if "configMapRef" in src:
                refs.add(("ConfigMap", src["configMapRef"]["name"]))
        for env in c.get("env", []):
            value_from = env.get("valueFrom", {})
            if "secretKeyRef" in value_from:
                refs.add(("Secret", value_from["secretKeyRef"]["name"]))
            if "configMapKeyRef" in value_from:
                refs.add(("ConfigMap", value_from["configMapKeyRef"]["name"]))
    return refs


def check_pod_baseline(where, pod, claims, problems):
    psc = pod.get("securityContext", {})
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
    if not psc.get("runAsNonRoot"):
        problems.append(f"{where}: pod runAsNonRoot is not true")
    names = {v["name"] for v in pod.get("volumes", [])} | claims
    for c in pod["containers"]:
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cw}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cw}: readOnlyRootFilesystem is not true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{cw}: capabilities do not drop ALL")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(part, {})):
                problems.append(f"{cw}: resources.{part} lacks cpu or memory")
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in c:
                problems.append(f"{cw}: no {probe}")
        ports = {p.get("name") for p in c.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            handler = c.get(probe, {})
            port = (handler.get("httpGet") or handler.get("tcpSocket") or {}).get("port")
            if isinstance(port, str) and port not in ports:
                problems.append(f"{cw}: {probe} uses port {port!r}, not a container port")
        for mount in c.get("volumeMounts", []):
            if mount["name"] not in names:
                problems.append(f"{cw}: mounts undefined volume {mount['name']!r}")


def main():
    overlay = sys.argv[1]
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    problems = []
    present = {(d["kind"], d["metadata"]["name"]) for d in docs}
    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    external = OUT_OF_BAND[overlay]

    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    if namespaces != {"railrush"}:
        problems.append(f"objects span namespaces {sorted(map(str, namespaces))}, expected railrush only")

    def pods_matching(selector):
        return [w for w in workloads if matches(selector, w["spec"]["template"]["metadata"].get("labels", {}))]

    for w in workloads:
        where = f"{w['kind']}/{w['metadata']['name']}"
        pod = w["spec"]["template"]["spec"]
        if not matches(w["spec"]["selector"].get("matchLabels", {}), w["spec"]["template"]["metadata"].get("labels", {})):
            problems.append(f"{where}: selector does not match the pod template labels")
        if w["kind"] == "Deployment" and w["spec"].get("strategy", {}).get("type") != "RollingUpdate":
            problems.append(f"{where}: strategy is not RollingUpdate")
        for ref in sorted(pod_refs(pod) - present - external):
            problems.append(f"{where}: uses {ref[0]} {ref[1]!r}, which is neither rendered nor created out of band")
        claims = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        check_pod_baseline(where, pod, claims, problems)

    for s in (d for d in docs if d["kind"] == "Service"):
        where = f"Service/{s['metadata']['name']}"
        if s["spec"].get("type") == "ExternalName":
            continue
        targets = pods_matching(s["spec"].get("selector", {}))
        if not targets:
            problems.append(f"{where}: selector matches no workload")
        for port in s["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for w in targets:
                cports = [p for c in w["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
                if isinstance(target, str) and target not in {p.get("name") for p in cports}:
                    problems.append(f"{where}: targetPort {target!r} is not a port of {w['metadata']['name']}")

    for h in (d for d in docs if d["kind"] == "HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]
        if (ref["kind"], ref["name"]) not in present:
            problems.append(f"HorizontalPodAutoscaler/{h['metadata']['name']}: target {ref['kind']}/{ref['name']} is not rendered")
        target = next((w for w in workloads if w["metadata"]["name"] == ref["name"]), None)
        if target is not None and "replicas" in target["spec"]:
            problems.append(f"HorizontalPodAutoscaler/{h['metadata']['name']}: its Deployment sets replicas, which each apply would reset")

    for p in (d for d in docs if d["kind"] == "PodDisruptionBudget"):
        if not pods_matching(p["spec"]["selector"].get("matchLabels", {})):
            problems.append(f"PodDisruptionBudget/{p['metadata']['name']}: selector matches no workload")

    for ing in (d for d in docs if d["kind"] == "Ingress"):
        for rule in ing["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                name = path["backend"]["service"]["name"]
                if ("Service", name) not in present:
                    problems.append(f"Ingress/{ing['metadata']['name']}: backend Service {name!r} is not rendered")

    if not any(d["kind"] == "NetworkPolicy" and d["spec"].get("podSelector") == {} and
               set(d["spec"].get("policyTypes", [])) == {"Ingress", "Egress"} and
               not d["spec"].get("ingress") and not d["spec"].get("egress") for d in docs):
        problems.append("no default-deny NetworkPolicy (all pods, Ingress and Egress, no rules)")

    for line in problems:
        print(f"k8s {overlay}: {line}")
    kinds = len(present)
    print(f"k8s {overlay}: {kinds} objects, {len(problems)} cross-reference problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
