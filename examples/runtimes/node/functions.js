// functions.js: the Node.js functions examples/runtimes/node/runtime.js
// serves: each export is a poold function of the same name.
"use strict";

function shout(text) {
  return String(text).toUpperCase() + "!";
}
shout.doc = "shout(text): the text upper-cased, with a bang";

function wordcount(text) {
  return String(text).split(/\s+/).filter(Boolean).length;
}
wordcount.doc = "wordcount(text): how many words";

function hypot(a, b) {
  return Math.hypot(a, b);
}
hypot.doc = "hypot(a, b): the length of the hypotenuse";

function fail(why) {
  throw new RangeError(`fail(): ${why}`);
}
fail.doc = "fail(why): throws a RangeError";

function textOf(codes) {
  return String.fromCharCode(...codes);
}
textOf.doc = "textOf(codes): the string of those UTF-16 code units";

module.exports = { shout, wordcount, hypot, fail, textOf };
