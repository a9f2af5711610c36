// runtime.js: a warm runtime for poold in Node.js, as docs/worker-protocol.md
// says: `node runtime.js FUNCTIONS.js` serves every function FUNCTIONS.js
// exports (its doc from a `doc` property, if any), one request after
// another, for as long as poold's worker lives.
//
//   {"functions": [{"runtime": ["node", "examples/runtimes/node/runtime.js",
//                               "examples/runtimes/node/functions.js"],
//                   "source": "node"}]}
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");
const util = require("util");

// stdout is for frames only: what the functions log goes to stderr, which
// poold logs under the worker's name.
const out = (frame) => fs.writeSync(1, JSON.stringify(frame) + "\n");
for (const level of ["log", "info", "debug", "warn", "error"])
  console[level] = (...args) => process.stderr.write(util.format(...args) + "\n");

function errorOf(e) {
  const type = (e && e.constructor && e.constructor.name) || "Error";
  return { type, message: String(e && e.message !== undefined ? e.message : e), traceback: (e && e.stack) || "" };
}

function outcome(fn, name, args) {
  let value;
  try {
    value = fn(...args);
  } catch (e) {
    return { e: errorOf(e) };
  }
  if (value === undefined || typeof value === "function" || typeof value === "symbol" ||
      typeof value === "bigint" || (typeof value === "number" && !Number.isFinite(value)))
    return { e: { type: "TypeError", message: `${name}() returned a ${typeof value} JSON cannot carry (${String(value)})`, traceback: "" } };
  return { r: value };
}

function calls(req) {
  if (Array.isArray(req.map)) return req.map.map((item) => [item]);
  if (Array.isArray(req.starmap)) return req.starmap;
  return [req.args || []];
}

function main() {
  const file = process.argv[2];
  let fns;
  try {
    if (!file) throw new Error("which file? (node runtime.js FUNCTIONS.js)");
    fns = require(path.resolve(file));
  } catch (e) {
    out({ fatal: errorOf(e) });
    process.exit(1);
  }
  const names = Object.keys(fns).filter((k) => typeof fns[k] === "function" && !k.startsWith("_"));
  out({ ready: { protocol: 1, pid: process.pid,
                 functions: names.map((name) => ({ name, doc: typeof fns[name].doc === "string" ? fns[name].doc : "" })) } });
  if (process.env.POOLD_DESCRIBE === "1") process.exit(0);
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", (line) => {
    const req = JSON.parse(line);
    const fn = fns[req.func];
    const items = calls(req);
    const results = items.map((args, k) => {
      if (req.progress && k) out({ id: req.id, started: k });
      return fn ? outcome(fn, req.func, args)
                : { e: { type: "ReferenceError", message: `no function ${req.func} here`, traceback: "" } };
    });
    out({ id: req.id, results });
  });
  lines.on("close", () => process.exit(0));
}

main();
