"""Parses every Terraform file with python-hcl2 and checks the references between them, the
part of `terraform validate` that needs no provider (no Terraform binary can be fetched here).

    python scripts/checks/terraform_refs.py terraform

Per module directory: every var.X, local.X, data.T.N, T.N (resource) and module.M.O used in
an expression is declared (module.M.O: an output of M's source); every argument given to a
local module is one of its variables and every variable without a default is given. Also
parses the HCL examples (*.tfvars.example, *.hcl.example) and checks that the tfvars set
only declared root variables. Prints one line per problem; exits 1 when there is any.
"""

import re
import sys
from pathlib import Path

import hcl2

PROVIDER_PREFIXES = ("aws_", "random_", "tls_")
META_ARGS = {"source", "version", "providers", "depends_on", "count", "for_each"}
REF_VAR = re.compile(r"(?<![\w.])var\.([A-Za-z_][\w-]*)")
REF_LOCAL = re.compile(r"(?<![\w.])local\.([A-Za-z_][\w-]*)")
REF_DATA = re.compile(r"(?<![\w.])data\.([a-z][\w]*)\.([A-Za-z_][\w-]*)")
REF_MODULE = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)")
REF_RESOURCE = re.compile(r"(?<![\w.])((?:%s)[a-z0-9_]+)\.([A-Za-z_][\w-]*)" % "|".join(PROVIDER_PREFIXES))


def strings(node):
    """Every expression string in a parsed tree (those hcl2 wraps in ${...})."""
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str) and "${" in node:
        yield node


def scalar(value):
    """hcl2 gives each attribute as a one-element list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def blocks(parsed, kind):
    """(name, body) of the blocks of one kind; two-label blocks come as (type, name, body)."""
    for entry in parsed.get(kind, []):
        for name, body in entry.items():
            yield name, body


class Module:
    def __init__(self, directory, problems):
        self.dir = directory
        self.files = {}
        for path in sorted(directory.glob("*.tf")):
            try:
                with path.open() as f:
                    self.files[path] = hcl2.load(f)
            except Exception as exc:  # the parser's own error names the line
                problems.append(f"{path}: does not parse: {exc}")
        self.variables, self.outputs, self.locals = {}, set(), set()
        self.resources, self.data, self.modules = set(), set(), {}
        for parsed in self.files.values():
            for name, body in blocks(parsed, "variable"):
                self.variables[name] = "default" in body
            self.outputs |= {name for name, _ in blocks(parsed, "output")}
            for entry in parsed.get("locals", []):
                self.locals |= {k for k in entry if not k.startswith("__")}
            for rtype, named in blocks(parsed, "resource"):
                self.resources |= {(rtype, n) for n in named}
            for dtype, named in blocks(parsed, "data"):
                self.data |= {(dtype, n) for n in named}
            for name, body in blocks(parsed, "module"):
                self.modules[name] = body


def check_module(module, load, problems):
    for path, parsed in module.files.items():
        for expr in strings(parsed):
            for name in REF_VAR.findall(expr):
                if name not in module.variables:
                    problems.append(f"{path}: var.{name} is not declared")
            for name in REF_LOCAL.findall(expr):
                if name not in module.locals:
                    problems.append(f"{path}: local.{name} is not declared")
            for ref in REF_DATA.findall(expr):
                if ref not in module.data:
                    problems.append(f"{path}: data.{ref[0]}.{ref[1]} is not declared")
            for ref in REF_RESOURCE.findall(expr):
                if ref not in module.resources:
                    problems.append(f"{path}: resource {ref[0]}.{ref[1]} is not declared")
            for name, output in REF_MODULE.findall(expr):
                if name not in module.modules:
                    problems.append(f"{path}: module.{name} is not declared")
                    continue
                child = load(module.dir / scalar(module.modules[name]["source"]))
                if child is not None and output not in child.outputs:
                    problems.append(f"{path}: module.{name} has no output {output!r}")

    for name, body in module.modules.items():
        source = scalar(body["source"])
        if not source.startswith("./") and not source.startswith("../"):
            continue
        child = load(module.dir / source)
        if child is None:
            problems.append(f"{module.dir}: module {name}: source {source} has no .tf files")
            continue
        given = {k for k in body if k not in META_ARGS and not k.startswith("__")}
        for arg in sorted(given - set(child.variables)):
            problems.append(f"{module.dir}: module {name} passes {arg!r}, not a variable of {source}")
        for var in sorted(v for v, has_default in child.variables.items() if not has_default and v not in given):
            problems.append(f"{module.dir}: module {name} does not pass required variable {var!r}")


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "terraform")
    problems = []
    cache = {}

    def load(directory):
        directory = directory.resolve()
        if directory not in cache:
            cache[directory] = Module(directory, problems) if any(directory.glob("*.tf")) else None
        return cache[directory]

    directories = sorted({p.parent for p in root.rglob("*.tf") if ".terraform" not in p.parts})
    for directory in directories:
        check_module(load(directory), load, problems)

    root_module = load(root)
    examples = sorted(root.rglob("*.tfvars.example")) + sorted(root.rglob("*.hcl.example"))
    for path in examples:
        try:
            with path.open() as f:
                parsed = hcl2.load(f)
        except Exception as exc:
            problems.append(f"{path}: does not parse: {exc}")
            continue
        if path.name.endswith(".tfvars.example") and root_module is not None:
            for name in sorted(k for k in parsed if not k.startswith("__") and k not in root_module.variables):
                problems.append(f"{path}: sets {name!r}, not a variable of {root}")

    for line in problems:
        print(f"terraform: {line}")
    files = sum(len(m.files) for m in cache.values() if m is not None)
    print(f"terraform: {files} .tf files in {len(directories)} modules and {len(examples)} examples parsed, "
          f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
