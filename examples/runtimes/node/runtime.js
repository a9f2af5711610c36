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

// stdout is for frames only, on a descriptor of our own, blocking whatever
// a library does to fd 1's mode; what the functions log, or write to
// process.stdout, goes to stderr, which poold logs under the worker's name.
const frames = fs.openSync("/proc/self/fd/1", "w");
const out = (frame) => {
  const data = Buffer.from(JSON.stringify(frame) + "\n");
  for (let off = 0; off < data.length;) off += fs.writeSync(frames, data, off);
};
process.stdout.write = process.stderr.write.bind(process.stderr);
for (const level of ["log", "info", "debug", "warn", "error"])
  console[level] = (...args) => process.stderr.write(util.format(...args) + "\n");

function errorOf(e) {
  const type = (e && e.constructor && e.constructor.name) || "Error";
  return { type, message: String(e && e.message !== undefined ? e.message : e), traceback: (e && e.stack) || "" };
}

const refused = (type, message) => ({ e: { type, message, traceback: "" } });

// A NUL, or half of a surrogate pair alone: JSON.stringify escapes them,
// and poold's JSON refuses both (docs/worker-protocol.md, Frames).
const UNCARRIED = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

// JSON text of a value, or null when JSON cannot carry all of it (what
// JSON.stringify would drop or turn into null without a word, or write
// as escapes poold refuses).
function carried(value) {
  let bad = false;
  const text = JSON.stringify(value, (k, v) => {
    if (v === undefined || typeof v === "function" || typeof v === "symbol" || typeof v === "bigint" ||
        (typeof v === "number" && !Number.isFinite(v)) || UNCARRIED.test(k) ||
        (typeof v === "string" && UNCARRIED.test(v)))
      bad = true;
    return typeof v === "bigint" ? null : v;
  });
  return bad || text === undefined ? null : text;
}

function outcome(fn, name, args, kwds) {
  let value;
  if (kwds && Object.keys(kwds).length)
    return refused("TypeError", `${name}() takes no keyword arguments in JavaScript`);
  try {
    value = fn(...args);
  } catch (e) {
    return { e: errorOf(e) };
  }
  if (value instanceof Promise)
    return refused("TypeError", `${name}() is async: this runtime serves plain functions`);
  const text = carried(value);
  if (text === null)
    return refused("TypeError", `${name}() returned a value JSON cannot carry whole (${typeof value}; ` +
                   "a string holds no NUL nor half a surrogate pair)");
  return { r: JSON.parse(text) };
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
      return fn ? outcome(fn, req.func, args, req.kwds)
                : { e: { type: "ReferenceError", message: `no function ${req.func} here`, traceback: "" } };
    });
    out({ id: req.id, results });
  });
  lines.on("close", () => process.exit(0));
}

main();
