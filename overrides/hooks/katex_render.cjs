// Typeset a batch of TeX formulas with KaTeX (npm, pinned in package.json).
//
// Run once per site build by overrides/hooks/katex.py:
//   stdin:  JSON [[tex, display], ...]
//   stdout: JSON {"version": "...", "results": [{"html": "..."} | {"error": "..."}, ...]}
// one result per formula, in order. A formula KaTeX cannot parse, or one that
// breaks KaTeX's strict LaTeX rules, gets an "error" (the hook fails the build
// and names the page); nothing is written for it.
"use strict";

const katex = require("katex");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map(([tex, display]) => {
    try {
      return {
        html: katex.renderToString(tex, {
          displayMode: Boolean(display),
          // HTML for the eye, MathML (visually hidden) for screen readers.
          output: "htmlAndMathml",
          throwOnError: true,
          strict: "error",
          trust: false,
        }),
      };
    } catch (err) {
      return { error: String(err && err.message ? err.message : err) };
    }
  });
  process.stdout.write(JSON.stringify({ version: katex.version, results }));
});
