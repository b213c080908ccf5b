// The moving-statistics explorer (docs/experiments/moving-statistics.md).
//
// The page holds <div id="ms-explorer" class="ms"> with a static figure inside
// (.ms-fallback, drawn by `python -m bnref figures --only moving-statistics`),
// which is what a reader without JavaScript sees. This script replaces it with
// buttons (momentum, batch size, mean or variance) and a chart drawn as SVG: the
// batch statistic of each training step (points), the moving statistic after
// that step's update (line) and the statistic re-estimated from training images
// (diamonds), with the run's test accuracy as trained and after re-estimation.
//
// Its stylesheet (stylesheets/moving-statistics.css) is added to the page when the
// explorer is built. The data is the results file itself, src/bnref/results/moving-statistics-cpu.json,
// which the site serves as data/moving-statistics.json
// (overrides/hooks/moving_statistics_data.py): the explorer shows the file's
// numbers and nothing else. Nothing is fetched from any other host.
(function () {
  "use strict";

  var SCRIPT = document.currentScript && document.currentScript.src;
  var BASE = SCRIPT || window.location.href;
  var DATA_URL = new URL("../data/moving-statistics.json", BASE).href;
  // the explorer's own stylesheet, loaded on its page only (not in every page's head)
  var STYLE_URL = new URL("../stylesheets/moving-statistics.css", BASE).href;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var loading = null; // one fetch per page load, shared across instant navigations
  var current = null; // the explorer on the page: {root, data, state}

  function style() {
    var present = document.querySelector('link[data-ms-style]');
    if (present) return Promise.resolve();
    return new Promise(function (done) {
      var link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = STYLE_URL;
      link.setAttribute("data-ms-style", "");
      link.onload = link.onerror = function () { done(); };
      document.head.appendChild(link);
    });
  }

  function load() {
    if (!loading) {
      loading = fetch(DATA_URL).then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status + " for " + DATA_URL);
        return response.json();
      });
    }
    return Promise.all([loading, style()]).then(function (both) { return both[0]; });
  }

  // ---- small DOM helpers -------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG_NS, tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A bilingual label: the reading mode shows one language or both
  // (stylesheets/extra.css, .bi-inline).
  function bi(zh, en) {
    return el("span", { class: "bi-inline" }, [
      el("span", { lang: "zh" }, [zh]),
      el("span", { lang: "en" }, [en]),
    ]);
  }

  // ---- the data ----------------------------------------------------------

  function momentumName(m) {
    return m === null ? "cumulative" : String(m);
  }

  function findRun(data, m, b, seed) {
    var runs = data.runs;
    for (var key in runs) {
      var r = runs[key];
      if (r.momentum === m && r.batch_size === b && r.seed === seed) return r;
    }
    return null;
  }

  function percent(x) {
    return (100 * x).toFixed(1);
  }

  function meanStd(values) {
    var n = values.length;
    var mean = values.reduce(function (a, b) { return a + b; }, 0) / n;
    var ss = values.reduce(function (a, b) { return a + (b - mean) * (b - mean); }, 0);
    return { mean: mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : NaN };
  }

  // ---- the chart ---------------------------------------------------------

  function niceStep(span, count) {
    var raw = span / Math.max(count, 1);
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= raw) return steps[i] * power;
    return 10 * power;
  }

  function ticks(lo, hi, count) {
    var step = niceStep(hi - lo, count);
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return { values: out, step: step };
  }

  // 1, 2, 5 times the powers of ten between 10^lo and 10^hi (fewer when there are many)
  function logTicks(lo, hi) {
    var out = [];
    var mantissas = hi - lo > 2.5 ? [1] : hi - lo > 1.2 ? [1, 3] : [1, 2, 5];
    for (var e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      mantissas.forEach(function (k) {
        var v = k * Math.pow(10, e), l = Math.log10(v);
        if (l >= lo && l <= hi) out.push(v);
      });
    }
    return { values: out };
  }

  function fmt(v, step) {
    var digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return v.toFixed(Math.min(digits, 4));
  }

  function draw(explorer) {
    var data = explorer.data, state = explorer.state;
    var run = findRun(data, state.momentum, state.batch, data.config.traced_seed);
    var stat = state.stat; // "mean" | "var"
    var batch = run.trace["batch_" + stat], moving = run.trace["moving_" + stat];
    var target = run.recalibrated_stats[stat], evalSteps = run.eval_steps;
    var box = explorer.chart;
    var W = Math.max(280, Math.round(box.getBoundingClientRect().width) || 640);
    var H = Math.round(Math.min(360, Math.max(230, W * 0.48)));
    var m = { left: 58, right: 14, top: 14, bottom: 42 };
    var steps = batch.length;
    // one scale for every momentum at this batch size: switching the momentum moves the line
    // only (the batch statistics are the same for every momentum)
    var all = [];
    data.config.momenta.forEach(function (other) {
      var r = findRun(data, other, state.batch, data.config.traced_seed);
      if (r) all = all.concat(r.trace["batch_" + stat], r.trace["moving_" + stat], r.recalibrated_stats[stat]);
    });
    // variances on a log scale: the starting value 1 and batch variances near 0.05 both show
    var log = stat === "var";
    var f = log ? Math.log10 : function (v) { return v; };
    var lo = Math.min.apply(null, all.map(f)), hi = Math.max.apply(null, all.map(f));
    var pad = (hi - lo) * 0.05 || 0.1;
    lo -= pad;
    hi += pad;
    var x = function (step) { return m.left + (step - 1) / Math.max(steps - 1, 1) * (W - m.left - m.right); };
    var y = function (v) { return m.top + (hi - f(v)) / (hi - lo) * (H - m.top - m.bottom); };
    var r2 = function (v) { return Math.round(v * 10) / 10; };

    var chart = svg("svg", {
      class: "ms-svg", width: W, height: H, viewBox: "0 0 " + W + " " + H,
      role: "img", "aria-labelledby": "ms-svg-title ms-svg-desc",
    });
    var name = stat === "mean" ? ["均值", "mean"] : ["方差", "variance"];
    var mLabel = state.momentum === null ? "cumulative average (momentum=None)"
      : "momentum " + state.momentum + " (PyTorch; d2l " + +(1 - state.momentum).toFixed(12) + ")";
    var last = steps - 1, lastEval = target.length - 1;
    chart.appendChild(svg("title", { id: "ms-svg-title" },
      "批量" + name[0] + "与滑动" + name[0] + " · batch " + name[1] + " and moving " + name[1] +
      ": " + mLabel + ", batch size " + state.batch));
    chart.appendChild(svg("desc", { id: "ms-svg-desc" },
      "Channel " + data.config.traced.match(/channel (\d+)/)[1] + " of the BN after the first convolution, " +
      steps + " training steps (seed " + data.config.traced_seed + "). After step " + steps +
      ": batch " + name[1] + " " + batch[last] + ", moving " + name[1] + " " + moving[last] +
      ", re-estimated from " + data.config.recalibration_images + " training images " +
      target[lastEval] + ". The batch " + name[1] + " ranges from " + Math.min.apply(null, batch) +
      " to " + Math.max.apply(null, batch) + "."));

    // axes and grid
    var grid = svg("g", { class: "ms-axis", "aria-hidden": "true" });
    var yt = log ? logTicks(lo, hi) : ticks(lo, hi, Math.max(3, Math.floor((H - m.top - m.bottom) / 45)));
    yt.values.forEach(function (v) {
      grid.appendChild(svg("line", { x1: m.left, x2: W - m.right, y1: r2(y(v)), y2: r2(y(v)), class: "ms-grid" }));
      grid.appendChild(svg("text", { x: m.left - 6, y: r2(y(v)) + 4, "text-anchor": "end" },
        log ? String(+v.toPrecision(2)) : fmt(v, yt.step)));
    });
    var xt = ticks(1, steps, Math.max(2, Math.floor((W - m.left - m.right) / 70)));
    xt.values.forEach(function (v) {
      if (v < 1) return;
      grid.appendChild(svg("line", { x1: r2(x(v)), x2: r2(x(v)), y1: H - m.bottom, y2: H - m.bottom + 4, class: "ms-tick" }));
      grid.appendChild(svg("text", { x: r2(x(v)), y: H - m.bottom + 16, "text-anchor": "middle" }, String(v)));
    });
    grid.appendChild(svg("line", { x1: m.left, x2: W - m.right, y1: H - m.bottom, y2: H - m.bottom, class: "ms-tick" }));
    grid.appendChild(svg("text", { x: (m.left + W - m.right) / 2, y: H - 6, "text-anchor": "middle" },
      "训练步 · training step"));
    grid.appendChild(svg("text", {
      x: 0, y: 0, "text-anchor": "middle",
      transform: "translate(13 " + (m.top + H - m.bottom) / 2 + ") rotate(-90)",
    }, name[0] + " · " + name[1] + (log ? "（对数 · log）" : "")));
    chart.appendChild(grid);

    // the batch statistics: one dot per step (zero-length segments, round caps)
    var dots = batch.map(function (v, i) { return "M" + r2(x(i + 1)) + " " + r2(y(v)) + "h0"; }).join("");
    chart.appendChild(svg("path", { class: "ms-batch", d: dots }));
    // the moving statistic after each step's update
    var line = moving.map(function (v, i) { return (i ? "L" : "M") + r2(x(i + 1)) + " " + r2(y(v)); }).join("");
    chart.appendChild(svg("path", { class: "ms-moving", d: line }));
    // re-estimated for the weights of that step
    var diamonds = target.map(function (v, i) {
      var cx = r2(x(evalSteps[i])), cy = r2(y(v));
      return "M" + cx + " " + (cy - 6) + "l6 6l-6 6l-6 -6z";
    }).join("");
    chart.appendChild(svg("path", { class: "ms-target", d: diamonds }));

    box.replaceChildren(chart);
    readout(explorer, run);
  }

  function readout(explorer, run) {
    var data = explorer.data, state = explorer.state, config = data.config;
    var head = el("tr", {}, [el("th", { scope: "col" }, [bi("训练步", "step")])]);
    run.eval_steps.forEach(function (s) { head.appendChild(el("th", { scope: "col" }, [String(s)])); });
    var rows = [["test_acc", "训练所得", "as trained"],
                ["recalibrated_test_acc", "重新估计后", "re-estimated"]].map(function (row) {
      var tr = el("tr", { "data-ms-row": row[0] }, [el("th", { scope: "row" }, [bi(row[1], row[2])])]);
      run[row[0]].forEach(function (acc, i) {
        tr.appendChild(el("td", { "data-ms-step": String(run.eval_steps[i]) }, [percent(acc)]));
      });
      return tr;
    });
    var images = config.test_images;
    var table = el("table", { class: "ms-acc" }, [
      el("caption", {}, [bi("测试精度（%，种子 " + config.traced_seed + "，" + images + " 张测试图像）：训练所得的滑动统计量与重新估计的统计量",
        "Test accuracy (%, seed " + config.traced_seed + ", " + images + " test images): with the moving statistics as trained, and re-estimated")]),
      el("thead", {}, [head]), el("tbody", {}, rows),
    ]);
    var seeds = [], acc = [], re = [];
    for (var s = 0; s < config.seeds; s++) {
      var r = findRun(data, state.momentum, state.batch, s);
      if (!r) continue;
      seeds.push(s);
      acc.push(100 * r.test_acc[r.test_acc.length - 1]);
      re.push(100 * r.recalibrated_test_acc[r.recalibrated_test_acc.length - 1]);
    }
    var a = meanStd(acc), b = meanStd(re);
    var spread = function (x) { return x.mean.toFixed(1) + (isNaN(x.std) ? "" : " ± " + x.std.toFixed(1)); };
    var step = run.eval_steps[run.eval_steps.length - 1];
    var summary = el("p", { class: "ms-seeds", "data-ms-seeds": String(seeds.length) }, [bi(
      seeds.length + " 个种子在第 " + step + " 步的均值 ± 标准差：训练所得 " + spread(a) + "%，重新估计后 " + spread(b) + "%。",
      "Mean ± std of " + seeds.length + " seeds at step " + step + ": as trained " + spread(a) +
      " %, re-estimated " + spread(b) + " %.")]);
    var lr = el("p", { class: "ms-run" }, [bi(
      "学习率 " + run.lr + "，批量 " + run.batch_size + "，" + run.steps + " 步。",
      "Learning rate " + run.lr + ", batch size " + run.batch_size + ", " + run.steps + " steps.")]);
    explorer.readout.replaceChildren(table, summary, lr);
  }

  // ---- the controls ------------------------------------------------------

  function group(explorer, zh, en, key, options) {
    var label = el("span", { class: "ms-group-label", id: "ms-label-" + key }, [bi(zh, en)]);
    var buttons = el("div", { class: "ms-buttons", role: "group", "aria-labelledby": "ms-label-" + key });
    options.forEach(function (option) {
      var attrs = { type: "button", class: "ms-button",
                    "aria-pressed": String(explorer.state[key] === option.value) };
      attrs["data-ms-" + key] = option.id;
      var button = el("button", attrs, [option.label]);
      button.addEventListener("click", function () {
        explorer.state[key] = option.value;
        var siblings = buttons.querySelectorAll("button");
        for (var i = 0; i < siblings.length; i++) {
          siblings[i].setAttribute("aria-pressed", String(siblings[i] === button));
        }
        draw(explorer);
      });
      buttons.appendChild(button);
    });
    return el("div", { class: "ms-group" }, [label, buttons]);
  }

  function build(root, data) {
    var config = data.config;
    var state = {
      momentum: config.momenta.indexOf(0.1) >= 0 ? 0.1 : config.momenta[0],
      batch: config.batch_sizes.indexOf(32) >= 0 ? 32 : config.batch_sizes[0],
      stat: "mean",
    };
    var explorer = { root: root, data: data, state: state };
    var momenta = config.momenta.map(function (m) {
      var label = m === null ? bi("累积平均", "cumulative")
        : el("span", {}, [String(m) + " ", el("small", {}, ["(d2l " + +(1 - m).toFixed(12) + ")"])]);
      return { id: momentumName(m), value: m, label: label };
    });
    var batches = config.batch_sizes.map(function (b) { return { id: String(b), value: b, label: String(b) }; });
    var stats = [{ id: "mean", value: "mean", label: bi("均值", "mean") },
                 { id: "var", value: "var", label: bi("方差", "variance") }];
    var controls = el("div", { class: "ms-controls" }, [
      group(explorer, "动量（PyTorch 约定）", "momentum (PyTorch's convention)", "momentum", momenta),
      group(explorer, "批量大小", "batch size", "batch", batches),
      group(explorer, "统计量", "statistic", "stat", stats),
    ]);
    var item = function (key, zh, en) {
      return el("span", { class: "ms-item" }, [el("span", { class: "ms-key ms-key-" + key }, []), bi(zh, en)]);
    };
    var legend = el("p", { class: "ms-legend", "aria-hidden": "true" }, [
      item("batch", "批量统计量（每步）", "batch statistic (each step)"),
      item("moving", "滑动统计量（这一步更新后）", "moving statistic (after the step's update)"),
      item("target", "重新估计（每 " + config.eval_every + " 步）", "re-estimated (every " + config.eval_every + " steps)"),
    ]);
    explorer.chart = el("div", { class: "ms-chart" });
    explorer.readout = el("div", { class: "ms-readout", "aria-live": "polite" });
    var ui = el("div", { class: "ms-ui" }, [controls, legend, explorer.chart, explorer.readout]);
    var fallback = root.querySelector(".ms-fallback");
    if (fallback) fallback.hidden = true;
    root.appendChild(ui);
    root.setAttribute("data-ms-ready", "true");
    current = explorer;
    draw(explorer);
  }

  function init() {
    var root = document.getElementById("ms-explorer");
    if (!root) { current = null; return; }
    if (root.getAttribute("data-ms-ready")) return;
    root.setAttribute("data-ms-ready", "loading");
    load().then(function (data) { build(root, data); }, function (err) {
      root.removeAttribute("data-ms-ready");
      loading = null;
      if (window.console) console.warn("moving-statistics explorer: " + err.message);
    });
  }

  var pending = false;
  window.addEventListener("resize", function () {
    if (pending || !current || !current.root.isConnected) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; if (current && current.root.isConnected) draw(current); });
  });

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
