"""The offline checks of monitoring/ that promtool does not do; run by
scripts/checks/monitoring.sh as `python3 monitoring.py ROOT EXPRS_RULES_FILE`.

- Prometheus configs: prometheus.yml (containers) and prometheus.local.yml (local stack)
  scrape all five services at /metrics on their ports with a `service` label, load the same
  rule files, and differ only where they must (addresses, RabbitMQ's job).
- Alert rules: every alert has a severity (critical or warning) and summary and description
  annotations, and the unit tests in monitoring/tests show each one firing (a test with
  expected alerts) and staying quiet (a test expecting none).
- Grafana: the provisioned data source; every dashboard is valid JSON without duplicate keys,
  has a unique uid and title, unique panel ids, panels inside the 24-column grid and not
  overlapping, every panel, target and query variable on the provisioned data source, and
  every variable a panel uses declared. There is a Rush dashboard and one per service.
- Every dashboard query, with Grafana's variables replaced by sample values, is written to
  EXPRS_RULES_FILE as a recording rule, so that `promtool check rules` parses it as PromQL.

Which metrics the queries use is checked against the services' real /metrics by the e2e test
e2e/tests/monitoring.
"""

import glob
import json
import os
import re
import sys

import yaml

SERVICES = {"auth": 8081, "train": 8082, "booking": 8083, "payment": 8084, "notification": 8085}
SEVERITIES = {"critical", "warning"}
# Grafana's built-in variables, replaced by sample values before parsing.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


# ---- Prometheus ---------------------------------------------------------------------------


def scrape_targets(cfg, job_name):
    for job in cfg.get("scrape_configs", []):
        if job.get("job_name") == job_name:
            return job, [
                (t, sc.get("labels", {})) for sc in job.get("static_configs", []) for t in sc["targets"]
            ]
    return None, []


def check_prometheus(root):
    files = {
        "monitoring/prometheus.yml": lambda svc, port: f"{svc}-service:{port}",
        "monitoring/prometheus.local.yml": lambda svc, port: f"127.0.0.1:{port}",
    }
    configs = {}
    for rel, address in files.items():
        cfg = load_yaml(os.path.join(root, rel))
        configs[rel] = cfg
        job, targets = scrape_targets(cfg, "railrush")
        if job is None:
            problem(rel, "no scrape job `railrush`")
            continue
        if job.get("metrics_path", "/metrics") != "/metrics":
            problem(rel, "job railrush: metrics_path is not /metrics")
        want = {address(svc, port): svc for svc, port in SERVICES.items()}
        got = {t: labels.get("service") for t, labels in targets}
        if got != want:
            problem(rel, f"job railrush targets {got}, expected {want} (target -> service label)")
        if not cfg.get("rule_files"):
            problem(rel, "loads no rule files")
    a, b = configs.values()
    if a.get("rule_files") != b.get("rule_files"):
        problem("monitoring/prometheus*.yml", "the two configs load different rule files")
    if a.get("global", {}).get("scrape_interval") != b.get("global", {}).get("scrape_interval"):
        problem("monitoring/prometheus*.yml", "the two configs scrape at different intervals")
    if scrape_targets(a, "rabbitmq")[0] is None:
        problem("monitoring/prometheus.yml", "no scrape job `rabbitmq` (RabbitMQ's Prometheus plugin, :15692)")
    return a.get("global", {}).get("scrape_interval")


# ---- Alert rules and their tests ----------------------------------------------------------


def check_alerts(root):
    alerts = {}
    rule_files = sorted(glob.glob(os.path.join(root, "monitoring/rules/*.yml")))
    for path in rule_files:
        rel = os.path.relpath(path, root)
        for group in load_yaml(path).get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert")
                if not name:
                    continue
                where = f"{rel}: alert {name}"
                if name in alerts:
                    problem(where, "defined twice")
                alerts[name] = {"fires": 0, "quiet": 0}
                if rule.get("labels", {}).get("severity") not in SEVERITIES:
                    problem(where, f"labels.severity must be one of {sorted(SEVERITIES)}")
                annotations = rule.get("annotations", {})
                for key in ("summary", "description"):
                    if not str(annotations.get(key, "")).strip():
                        problem(where, f"no {key} annotation")
    if not alerts:
        problem("monitoring/rules", "no alert rules")

    tested_files = set()
    test_files = sorted(glob.glob(os.path.join(root, "monitoring/tests/*.yml")))
    for path in test_files:
        rel = os.path.relpath(path, root)
        doc = load_yaml(path)
        for rf in doc.get("rule_files", []):
            tested_files.add(os.path.normpath(os.path.join(os.path.dirname(path), rf)))
        for test in doc.get("tests", []):
            for case in test.get("alert_rule_test", []) or []:
                name = case.get("alertname")
                if name not in alerts:
                    problem(rel, f"tests unknown alert {name}")
                    continue
                alerts[name]["fires" if case.get("exp_alerts") else "quiet"] += 1
    for path in rule_files:
        if os.path.normpath(path) not in tested_files:
            problem(os.path.relpath(path, root), "not loaded by any test in monitoring/tests")
    for name, seen in sorted(alerts.items()):
        if not seen["fires"]:
            problem("monitoring/tests", f"no test shows {name} firing")
        if not seen["quiet"]:
            problem("monitoring/tests", f"no test shows {name} staying quiet")
    return len(alerts)


# ---- Grafana ------------------------------------------------------------------------------


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise ValueError(f"duplicate keys {dups}")
    return dict(pairs)


def check_datasource_provisioning(root):
    rel = "monitoring/grafana/provisioning/datasources/prometheus.yml"
    sources = load_yaml(os.path.join(root, rel)).get("datasources", [])
    if len(sources) != 1:
        problem(rel, f"expected exactly one data source, found {len(sources)}")
        return None
    ds = sources[0]
    if ds.get("type") != "prometheus" or not ds.get("uid"):
        problem(rel, "the data source must be of type prometheus with a uid")
        return None
    rel = "monitoring/grafana/provisioning/dashboards/railrush.yml"
    providers = load_yaml(os.path.join(root, rel)).get("providers", [])
    if not any(p.get("type") == "file" and p.get("options", {}).get("path") for p in providers):
        problem(rel, "no file provider with options.path")
    return {"type": "prometheus", "uid": ds["uid"]}


def variable_query(var):
    q = var.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    return q or var.get("definition") or ""


def promql_of(query):
    """The PromQL inside a Grafana Prometheus query (variable queries included), or None."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", query, re.S)
    if m:
        return m.group(1)
    if re.fullmatch(r"\s*(label_values|label_names|metrics)\(.*\)\s*", query, re.S):
        return None
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", query, re.S)
    if m:
        return m.group(1)
    return query


def substitute(expr, declared, where):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        if name not in declared:
            problem(where, f"uses ${name}, which is not a variable of the dashboard")
        return ".*"

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)


def check_dashboards(root, datasource, exprs_out):
    files = sorted(glob.glob(os.path.join(root, "monitoring/grafana/dashboards/*.json")))
    uids, titles, records = {}, {}, []
    for path in files:
        rel = os.path.relpath(path, root)
        try:
            with open(path, encoding="utf-8") as f:
                dash = json.load(f, object_pairs_hook=no_duplicate_keys)
        except ValueError as e:
            problem(rel, f"not valid JSON: {e}")
            continue
        for key, seen in (("uid", uids), ("title", titles)):
            value = dash.get(key)
            if not value:
                problem(rel, f"no {key}")
            elif value in seen:
                problem(rel, f"{key} {value!r} also used by {seen[value]}")
            else:
                seen[value] = rel

        variables = dash.get("templating", {}).get("list", [])
        declared = {v.get("name") for v in variables}
        for var in variables:
            where = f"{rel}: variable {var.get('name')}"
            if var.get("type") != "query":
                continue
            if var.get("datasource") != datasource:
                problem(where, f"data source {var.get('datasource')} is not the provisioned {datasource}")
            expr = promql_of(variable_query(var))
            if expr:
                records.append((rel, f"var_{var.get('name')}", substitute(expr, declared, where)))

        panels = []
        for p in dash.get("panels", []):
            panels.append(p)
            panels.extend(p.get("panels", []))  # panels of collapsed rows
        ids, cells = set(), {}
        if not any(p.get("type") != "row" for p in panels):
            problem(rel, "no panels")
        for p in panels:
            pid = p.get("id")
            where = f"{rel}: panel {pid} {p.get('title')!r}"
            if not isinstance(pid, int):
                problem(where, "id is not an integer")
            elif pid in ids:
                problem(where, "id used twice")
            ids.add(pid)
            pos = p.get("gridPos", {})
            x, y, w, h = (pos.get(k) for k in ("x", "y", "w", "h"))
            if not all(isinstance(v, int) for v in (x, y, w, h)) or x < 0 or w < 1 or h < 1 or x + w > 24:
                problem(where, f"gridPos {pos} is outside the 24-column grid")
            else:
                for cx in range(x, x + w):
                    for cy in range(y, y + h):
                        other = cells.setdefault((cx, cy), pid)
                        if other != pid:
                            problem(where, f"overlaps panel {other}")
                            break
                    else:
                        continue
                    break
            if p.get("type") == "row":
                continue
            if not p.get("title"):
                problem(where, "no title")
            if p.get("datasource") != datasource:
                problem(where, f"data source {p.get('datasource')} is not the provisioned {datasource}")
            targets = p.get("targets", [])
            if not targets:
                problem(where, "no queries")
            refs = [t.get("refId") for t in targets]
            if len(set(refs)) != len(refs):
                problem(where, f"refIds {refs} are not unique")
            for t in targets:
                twhere = f"{where} query {t.get('refId')}"
                if t.get("datasource", datasource) != datasource:
                    problem(twhere, f"data source {t.get('datasource')} is not the provisioned {datasource}")
                expr = t.get("expr", "")
                if not expr.strip():
                    problem(twhere, "empty expr")
                    continue
                records.append((rel, f"p{pid}_{t.get('refId')}", substitute(expr, declared, twhere)))

    wanted = {"railrush-rush"} | {f"railrush-{svc}" for svc in SERVICES}
    missing = sorted(wanted - set(uids))
    if missing:
        problem("monitoring/grafana/dashboards", f"missing dashboards (by uid): {missing}")

    rules = []
    for rel, name, expr in records:
        base = re.sub(r"\W", "_", os.path.splitext(os.path.basename(rel))[0])
        rules.append({"record": f"dashboard_check:{base}:{name}", "expr": expr})
    with open(exprs_out, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f, sort_keys=False)
    return len(files), len(records)


def main():
    root, exprs_out = sys.argv[1], sys.argv[2]
    interval = check_prometheus(root)
    n_alerts = check_alerts(root)
    datasource = check_datasource_provisioning(root)
    n_dash, n_exprs = check_dashboards(root, datasource, exprs_out) if datasource else (0, 0)
    if problems:
        for p in problems:
            print(p)
        sys.exit(1)
    print(f"note: scrape interval {interval}; {n_alerts} alerts each tested firing and quiet; "
          f"{n_dash} dashboards, {n_exprs} queries")


if __name__ == "__main__":
    main()
