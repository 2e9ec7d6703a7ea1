/* report.js: the timeline of one scenario file in mpod-lua's --report
 * (docs/report.md). Compiled into the binary; written to DIR/assets/.
 *
 * The page's data is DIR/data/<slug>.js (window.MPOD_REPORT[slug]): the
 * file's history operations (the format of docs/history.md), its tests and
 * its pods' log lines. Time runs left to right; one lane per pod, plus lanes
 * for the tests, the checks (poll_until, consistently), Postgres and
 * operations of no pod. Requests, streams and log lines are drawn on a
 * canvas, aggregated per pixel column when they are narrower than one; what
 * a reader (or a test, through the DOM) looks for is DOM: control markers,
 * fault and down intervals, test spans, failed assertions, check windows,
 * and log ticks while there are few. Wheel zooms, drag pans, a click shows
 * an operation's details. Deep links: #op=<index>, #test=<name>,
 * #t=<from>-<to> (seconds). No network, no library: it runs from file://.
 */
(function () {
  "use strict";

  // spans narrower than COLUMN_SPAN pixels are drawn as pixel columns
  var COLUMN_SPAN = 6;
  var LABEL_W = 140, AXIS_H = 22, DOM_LOG_MAX = 1500, DOM_POLL_MAX = 400, DOM_OPS_MAX = 300;
  var CLASS_COLOURS = {
    s2: "#3a9e5b", s3: "#2b8a9e", s4: "#e0a030", s5: "#d64545",
    "e-connect": "#7b3fa0", "e-timeout": "#a0522d", "e-reset": "#c2185b", "e-other": "#4a3a8c",
    open: "#9aa0a6", ok: "#3a9e5b", fail: "#d64545", info: "#a0522d", point: "#555"
  };
  // the worse class wins a pixel column
  var SEVERITY = { point: 0, ok: 1, s2: 1, s3: 2, open: 3, s4: 4, info: 5, fail: 6, s5: 6,
    "e-other": 7, "e-reset": 7, "e-timeout": 7, "e-connect": 7 };
  // classes in order of severity, and each one's rank in that order
  var CLASS_BY_SEVERITY_INDEX = Object.keys(SEVERITY).sort(function (x, y) { return SEVERITY[x] - SEVERITY[y]; });
  var SEVERITY_INDEX = {};
  CLASS_BY_SEVERITY_INDEX.forEach(function (c, i) { SEVERITY_INDEX[c] = i; });

  // lowerBound(spans, t) -> the first index whose span starts at t or later
  function lowerBound(spans, t) {
    var lo = 0, hi = spans.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (spans[mid].t0 < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  var LEGEND = [["s2", "2xx"], ["s3", "3xx"], ["s4", "4xx"], ["s5", "5xx"], ["e-connect", "connect error"],
    ["e-timeout", "timeout"], ["e-reset", "reset / cut"], ["e-other", "other error"], ["open", "no reply"]];
  // the keys of the lanes that are not pods (a pod may be called "postgres")
  var SEP = "\u0001";      // joins a lane's key and a row's in a column's key
  var TESTS = "#tests", CHECKS = "#checks", PG = "#postgres", NO_POD = "#no-pod";
  var STATE_STARTS = { kill: "dead", stop: "dead", pause: "paused", isolate: "isolated" };
  var STATE_ENDS = { start: ["dead"], restart: ["dead", "paused"], unpause: ["paused"],
    heal: ["isolated", "paused", "dead"], rejoin: ["isolated"] };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function fmt(t) { return (Math.round(t * 1000) / 1000).toFixed(3) + " s"; }
  function fmtDur(d) { return d < 1 ? (d * 1000).toFixed(1) + " ms" : fmt(d); }
  function field(op, name) {
    if (op[name] !== undefined) return op[name];
    if (op.value && typeof op.value === "object" && !Array.isArray(op.value)) return op.value[name];
    return undefined;
  }
  function short(v, max) {
    var s = typeof v === "string" ? v : JSON.stringify(v);
    if (s === undefined) s = "";
    return s.length > max ? s.slice(0, max - 1) + "\u2026" : s;
  }

  // diagText(diag) -> a failed test's diagnostics as the TAP's YAML shows
  // them: message, kind, at, got, expected, diff first; timeline, log,
  // logs, stack last; multi-line strings as blocks
  var DIAG_RANK = { message: 0, kind: 1, at: 2, got: 3, expected: 4, diff: 5,
    timeline: 99, log: 100, logs: 101, stack: 102 };
  function diagText(diag) {
    if (diag == null) return "";
    if (typeof diag !== "object") return String(diag);
    var out = [];
    function rank(k) { return DIAG_RANK[k] !== undefined ? DIAG_RANK[k] : 50; }
    function put(k, v, indent) {
      var pad = "          ".slice(0, indent);
      if (v !== null && typeof v === "object") {
        out.push(pad + k + ":");
        Object.keys(v).sort().forEach(function (sub) { put(sub, v[sub], indent + 2); });
      } else if (typeof v === "string" && v.indexOf("\n") >= 0) {
        out.push(pad + k + ": |");
        v.replace(/\n$/, "").split("\n").forEach(function (line) { out.push(pad + "  " + line); });
      } else {
        out.push(pad + k + ": " + (typeof v === "string" ? JSON.stringify(v) : String(v)));
      }
    }
    Object.keys(diag).sort(function (x, y) { return rank(x) - rank(y) || (x < y ? -1 : x > y ? 1 : 0); })
      .forEach(function (k) { put(k, diag[k], 0); });
    return "---\n" + out.join("\n") + "\n...";
  }

  /* ---- the model: operations read into lanes ---------------------------- */

  function outcomeClass(done) {
    if (!done) return "open";
    var status = field(done, "status");
    if (done.type === "ok" && typeof status === "number") {
      return status >= 500 ? "s5" : status >= 400 ? "s4" : status >= 300 ? "s3" : "s2";
    }
    if (done.type === "ok") return "ok";
    var kind = String((done.error && done.error.kind) || "");
    if (/connect|refused|resolve|dns/.test(kind)) return "e-connect";
    if (/timeout|timed/.test(kind)) return "e-timeout";
    if (/reset|closed|cut|eof|drop|partial/.test(kind)) return "e-reset";
    return kind ? "e-other" : done.type === "info" ? "info" : "fail";
  }

  function describe(op) {
    var f = String(op.f);
    if (f === "http" || f === "sse.open") return f + " " + (field(op, "method") || "GET") + " " + short(field(op, "path") || "", 80);
    if (f === "sse.event") return "sse.event " + (field(op, "event_id") || "") + " " + (field(op, "event") || "");
    if (op.value !== undefined && op.value !== null) return f + " " + short(op.value, 80);
    return f;
  }

  function outcomeText(span) {
    var d = span.done;
    if (span.op.point) return "seen";
    if (!d) return "no reply";
    var status = field(d, "status");
    if (d.type === "ok" && status !== undefined) return String(status);
    if (d.type === "ok") return "ok";
    return d.type + (d.error ? " (" + (d.error.kind || "") + (d.error.message ? ": " + short(d.error.message, 80) : "") + ")" : "");
  }

  function Model(data) {
    var ops = data.ops || [];
    var m = this;
    m.data = data;
    m.end = Math.max(data.duration || 0, 0.001);
    m.byIndex = {};
    m.spans = [];       // {op, done, t0, t1, lane, row, cls}
    m.points = [];      // {op, t, lane, row, cls}
    m.markers = [];     // {op, t, lane, kind, label}
    m.intervals = [];   // {t0, t1, lanes (null: every pod), kind, label, op}
    m.polls = [];
    m.tests = data.tests || [];
    m.logs = data.logs || [];
    m.lanesUsed = {};
    var pods = (data.pods || []).slice();
    var known = {};
    pods.forEach(function (p) { known[p] = true; });
    function usePod(p) { if (p && !known[p]) { known[p] = true; pods.push(p); } }

    ops.forEach(function (op) { m.byIndex[op.index] = op; if (op.time > m.end) m.end = op.time; });
    var doneOf = {};
    ops.forEach(function (op) { if (op.type !== "invoke" && op.invoke !== undefined && !op.point) doneOf[op.invoke] = op; });
    var streams = {};   // stream id -> span
    var faults = {};    // fault id -> interval
    var states = {};    // pod -> {kind: interval}

    function openState(pod, kind, t, op) {
      states[pod] = states[pod] || {};
      if (states[pod][kind]) return;
      var iv = { t0: t, t1: null, lanes: [pod], kind: kind, label: kind, op: op };
      states[pod][kind] = iv;
      m.intervals.push(iv);
    }
    function closeState(pod, kinds, t) {
      var s = states[pod];
      if (!s) return;
      kinds.forEach(function (k) { if (s[k]) { s[k].t1 = t; s[k] = null; } });
    }
    function control(op, action, pod) {
      var done = doneOf[op.index];
      usePod(pod);
      m.markers.push({ op: op, done: done, t: op.time, lane: pod, kind: action,
        label: String(op.f) + (pod ? " " + pod : "") });
      var t = done ? done.time : op.time;
      if (STATE_STARTS[action] && !(done && done.type === "fail")) openState(pod, STATE_STARTS[action], t, op);
      if (STATE_ENDS[action]) closeState(pod, STATE_ENDS[action], t);
    }

    // the pods a fault's value names: pods, or both sides of a partition,
    // or the pod its proxy is named after; null: every pod
    function faultLanes(v) {
      if (Array.isArray(v.pods) && v.pods.length) return v.pods.map(String);
      if (Array.isArray(v.a) || Array.isArray(v.b)) return [].concat(v.a || [], v.b || []).map(String);
      if (v.pod) return [String(v.pod)];
      if (v.proxy && known[v.proxy]) return [String(v.proxy)];
      return null;
    }
    // fault.add opens the fault's interval, fault.remove (same number)
    // closes it; one given for_s ends by itself
    function fault(op, f, done) {
      var v = op.value || (done && done.value) || {};
      var id = field(op, "fault") !== undefined ? field(op, "fault") : done && field(done, "fault");
      if (f === "fault.remove") {
        if (faults[id]) { faults[id].t1 = op.time; delete faults[id]; }
        return;
      }
      if (done && done.type === "fail") return;
      var lanes = faultLanes(v), t0 = done ? done.time : op.time;
      var iv = { t0: t0, t1: typeof v.for_s === "number" ? t0 + v.for_s : null, lanes: lanes, kind: "fault",
        label: "fault " + (v.kind || "") + (v.proxy ? " " + v.proxy : "") + (lanes ? " on " + lanes.join(", ") : ""), op: op };
      if (iv.t1 === null) faults[id] = iv;
      m.intervals.push(iv);
    }
    // the nemesis: nemesis.<fault> is a marker and opens an interval over
    // its pod (or proxy) that its nemesis.heal closes; the pod control it
    // did is recorded apart (pod.kill, ...) and drawn as such
    var nemesisOpen = {};
    function nemesis(op, what, done) {
      var v = op.value || {}, target = String(v.pod || v.proxy || "");
      var lanes = faultLanes(v), t = done ? done.time : op.time;
      if (what === "heal") {
        var open = nemesisOpen[target];
        if (open) { open.t1 = t; delete nemesisOpen[target]; }
        return;
      }
      (lanes || pods.slice()).forEach(function (lane) {
        usePod(lane);
        m.markers.push({ op: op, done: done, t: op.time, lane: lane, kind: "nemesis",
          label: "nemesis." + what + (target ? " " + target : "") });
      });
      if (done && done.type === "fail") return;
      var iv = { t0: t, t1: null, lanes: lanes, kind: "nemesis", label: "nemesis " + what, op: op };
      nemesisOpen[target] = iv;
      m.intervals.push(iv);
    }

    ops.forEach(function (op) {
      var f = String(op.f), done, pod = op.pod || field(op, "pod");
      if (op.type !== "invoke" && !op.point) return;
      if (op.point) {
        var stream = field(op, "stream"), s = stream !== undefined ? streams[stream] : null;
        if (f === "sse.event" && s) { m.points.push({ op: op, t: op.time, lane: s.lane, row: "sse", cls: "point" }); return; }
        if ((f === "sse.drop" || f === "sse.resume") && s) {
          m.markers.push({ op: op, t: op.time, lane: s.lane, kind: f === "sse.drop" ? "sse-drop" : "sse-resume",
            label: f + " stream " + stream + (field(op, "error") ? ": " + short(field(op, "error"), 80) : "") });
          return;
        }
        if (f === "sse.close" && s) { s.t1 = op.time; return; }
        var lane = pod || NO_POD;
        if (pod) usePod(pod); else m.lanesUsed[NO_POD] = true;
        m.points.push({ op: op, t: op.time, lane: lane, row: "req", cls: "point" });
        return;
      }
      done = doneOf[op.index];
      if (f === "test") return;                      // the tests lane reads data.tests
      if (f.indexOf("nemesis.") === 0) { nemesis(op, f.slice(8), done); return; }
      var mm = /^pod\.(\w+)$/.exec(f);
      if (mm && pod) { control(op, mm[1], pod); return; }
      if (mm && mm[1] === "heal") {                  // c:heal(): every pod rejoins
        pods.forEach(function (p) { closeState(p, ["isolated"], done ? done.time : op.time); });
        return;
      }
      if (f === "fault.add" || f === "fault.remove") { fault(op, f, done); return; }
      var span = { op: op, done: done, t0: op.time, t1: done ? done.time : null, cls: outcomeClass(done) };
      if (f === "pg.query") { span.lane = PG; span.row = "req"; m.lanesUsed[PG] = true; }
      else if (f === "poll_until" || f === "consistently") { span.lane = CHECKS; m.polls.push(span); return; }
      else if (f === "sse.open") {
        span.lane = pod || NO_POD; span.row = "sse"; span.cls = done && done.type === "ok" ? "ok" : outcomeClass(done);
        var sid = field(op, "stream") !== undefined ? field(op, "stream") : done && field(done, "stream");
        span.t1 = null;
        if (sid !== undefined) streams[sid] = span;
      } else { span.lane = pod || NO_POD; span.row = "req"; }
      if (pod) usePod(pod); else if (span.lane === NO_POD) m.lanesUsed[NO_POD] = true;
      m.spans.push(span);
    });
    m.logs.forEach(function (row) { usePod(row[1]); if (row[0] > m.end) m.end = row[0]; });
    m.tests.forEach(function (t) { if (t["end"] > m.end) m.end = t["end"]; });
    m.spans.forEach(function (s) { if (s.t1 === null || s.t1 === undefined) s.t1 = m.end; });
    m.polls.forEach(function (s) { if (s.t1 === null || s.t1 === undefined) s.t1 = m.end; });
    m.intervals.forEach(function (iv) { if (iv.t1 === null) iv.t1 = m.end; });
    m.spans.sort(function (a, b) { return a.t0 - b.t0; });
    m.maxDuration = 0;
    m.spans.forEach(function (s) {
      s.key = s.lane + SEP + s.row;
      if (s.t1 - s.t0 > m.maxDuration) m.maxDuration = s.t1 - s.t0;
    });
    m.pods = pods;
    m.spanOf = {};
    m.spans.forEach(function (s) { m.spanOf[s.op.index] = s; if (s.done) m.spanOf[s.done.index] = s; });
    m.polls.forEach(function (s) { m.spanOf[s.op.index] = s; if (s.done) m.spanOf[s.done.index] = s; });
    m.points.forEach(function (p) { m.spanOf[p.op.index] = { op: p.op, t0: p.t, t1: p.t, lane: p.lane, row: p.row, cls: "point" }; });
    m.markers.forEach(function (mk) { if (!m.spanOf[mk.op.index]) m.spanOf[mk.op.index] = { op: mk.op, done: mk.done, t0: mk.t, t1: mk.done ? mk.done.time : mk.t, lane: mk.lane, marker: mk }; });
  }

  /* ---- lanes ------------------------------------------------------------ */

  function buildLanes(model, hidden) {
    var lanes = [], y = AXIS_H;
    function add(key, label, kind, h, sub) {
      if (hidden[key]) return;
      lanes.push({ name: key, label: label, kind: kind, y: y, h: h, sub: sub });
      y += h;
    }
    add(TESTS, "tests", "tests", 30, model.tests.length + (model.tests.length === 1 ? " test" : " tests"));
    if (model.polls.length) add(CHECKS, "checks", "checks", 22, "poll_until, consistently");
    model.pods.forEach(function (p) { add(p, p, "pod", 48, "requests \u00b7 streams \u00b7 logs"); });
    if (model.lanesUsed[PG]) add(PG, "postgres queries", "postgres", 24, "mp.pg");
    if (model.lanesUsed[NO_POD]) add(NO_POD, "(no pod)", "other", 24, "operations of no pod");
    return { list: lanes, height: y, byName: lanes.reduce(function (o, l) { o[l.name] = l; return o; }, {}) };
  }

  function rowBox(lane, row) {
    if (lane.kind !== "pod") return [lane.y + 4, lane.h - 8];
    if (row === "sse") return [lane.y + 22, 10];
    if (row === "log") return [lane.y + 35, 9];
    return [lane.y + 3, 16];
  }

  /* ---- the page --------------------------------------------------------- */

  function App(data, root) {
    var a = this;
    a.model = new Model(data);
    a.hidden = {};
    a.testFilter = null;
    a.view = { t0: 0, t1: a.model.end * 1.02 };
    a.selected = null;
    a.root = root;
    a.build();
    a.readHash();
    window.addEventListener("resize", function () { a.layout(); });
    window.addEventListener("hashchange", function () { a.readHash(); });
  }

  App.prototype.build = function () {
    var a = this, m = a.model, root = a.root;
    root.textContent = "";
    var bar = el("div", "toolbar");
    var pods = el("span", "pod-filter");
    pods.appendChild(el("span", null, "pods: "));
    m.pods.forEach(function (p) {
      var lab = el("label"), box = el("input");
      box.type = "checkbox"; box.checked = true; box.dataset.pod = p;
      box.addEventListener("change", function () { a.hidden[p] = !box.checked; a.layout(); });
      lab.appendChild(box); lab.appendChild(document.createTextNode(" " + p));
      pods.appendChild(lab);
    });
    bar.appendChild(pods);
    var sel = el("select", "test-filter");
    sel.appendChild(new Option("all tests", ""));
    m.tests.forEach(function (t) { sel.appendChild(new Option(t.name + " (" + t.status + ")", t.name)); });
    sel.addEventListener("change", function () { a.filterTest(sel.value || null, true); });
    a.testSelect = sel;
    var tl = el("label", null, "test: "); tl.appendChild(sel); bar.appendChild(tl);
    [["fit", function () { a.setView(0, a.model.end * 1.02); }],
     ["+", function () { a.zoom(0.5, 0.5); }], ["\u2212", function () { a.zoom(2, 0.5); }]].forEach(function (b) {
      var btn = el("button", null, b[0]); btn.addEventListener("click", b[1]); bar.appendChild(btn);
    });
    var legend = el("span", "legend");
    LEGEND.forEach(function (l) {
      var s = el("span"), i = el("i"); i.style.background = CLASS_COLOURS[l[0]];
      s.appendChild(i); s.appendChild(document.createTextNode(l[1])); legend.appendChild(s);
    });
    bar.appendChild(legend);
    root.appendChild(bar);
    root.appendChild(el("div", "axis-note", m.data.file + " \u00b7 started " + (m.data.started || "?") + " \u00b7 " +
      fmt(m.end) + " \u00b7 " + (m.data.ops || []).length + " operations \u00b7 " + m.logs.length +
      " log lines \u00b7 wheel: zoom, drag: pan, click: details"));

    var tl2 = el("div", "timeline");
    a.labels = el("div", "labels");
    a.plot = el("div", "plot");
    a.canvas = el("canvas");
    a.overlay = el("div", "overlay");
    a.plot.appendChild(a.canvas); a.plot.appendChild(a.overlay);
    tl2.appendChild(a.labels); tl2.appendChild(a.plot);
    root.appendChild(tl2);
    a.tip = el("div"); a.tip.id = "tip"; document.body.appendChild(a.tip);

    var panels = el("div", "panels");
    a.details = el("section", "panel details");
    a.details.id = "details";
    a.details.appendChild(el("h2", null, "details"));
    a.details.appendChild(el("pre", null, "Click an operation, a marker or a test."));
    a.diags = el("section", "panel diags");
    a.diags.id = "diagnostics";
    a.diags.appendChild(el("h2", null, "failed tests"));
    var failed = 0;
    m.tests.forEach(function (t, i) {
      if (t.status !== "fail") return;
      failed++;
      var d = el("div", "diag"); d.id = "diag-" + i; d.dataset.test = t.name;
      d.appendChild(el("h3", null, "not ok - " + t.name));
      d.appendChild(el("pre", null, t.diag ? diagText(t.diag) : t.message || ""));
      a.diags.appendChild(d);
    });
    if (!failed) a.diags.appendChild(el("pre", null, "none"));
    panels.appendChild(a.details); panels.appendChild(a.diags);
    root.appendChild(panels);
    a.bindInput();
    a.layout();
  };

  // (re)build lanes and DOM items for the visible lanes, then draw
  App.prototype.layout = function () {
    var a = this;
    a.lanes = buildLanes(a.model, a.hidden);
    a.width = Math.max(200, a.plot.clientWidth || (document.documentElement.clientWidth - LABEL_W - 40));
    a.plot.style.height = a.lanes.height + "px";
    a.labels.style.height = a.lanes.height + "px";
    var ratio = window.devicePixelRatio || 1;
    a.canvas.width = Math.round(a.width * ratio); a.canvas.height = Math.round(a.lanes.height * ratio);
    a.canvas.style.width = a.width + "px"; a.canvas.style.height = a.lanes.height + "px";
    a.ratio = ratio;
    a.labels.textContent = "";
    a.overlay.textContent = "";
    a.items = [];
    a.lanes.list.forEach(function (l) {
      var lab = el("div", "lane-label", l.label);
      lab.dataset.lane = l.name;
      lab.style.top = l.y + "px"; lab.style.height = l.h + "px";
      if (l.sub) lab.appendChild(el("small", null, l.sub));
      a.labels.appendChild(lab);
      var row = el("div", "lane " + l.kind);
      row.dataset.lane = l.name; row.dataset.kind = l.kind;
      row.style.top = l.y + "px"; row.style.height = l.h + "px";
      a.overlay.appendChild(row);
    });
    a.buildItems();
    a.draw();
  };

  App.prototype.addItem = function (node, t0, t1, lane, top, h, minW) {
    node.style.top = top + "px";
    if (h != null) node.style.height = h + "px";
    node.dataset.t = t0.toFixed(3);
    if (t1 !== t0) node.dataset.t1 = t1.toFixed(3);
    this.overlay.appendChild(node);
    this.items.push({ node: node, t0: t0, t1: t1, minW: minW || 0 });
  };

  App.prototype.hoverTip = function (node, text) {
    var a = this;
    node.title = text;
    node.dataset.tip = text;
    node.addEventListener("mouseenter", function (e) { a.showTip(text, e); });
    node.addEventListener("mouseleave", function () { a.hideTip(); });
  };

  App.prototype.buildItems = function () {
    var a = this, m = a.model, L = a.lanes.byName;
    // faults and down periods: shaded over every lane they affect
    m.intervals.forEach(function (iv) {
      var lanes = iv.lanes || m.pods;
      lanes.forEach(function (name) {
        var l = L[name];
        if (!l) return;
        var n = el("div", "fault k-" + iv.kind);
        n.dataset.kind = iv.kind; n.dataset.lane = name;
        if (iv.op) n.dataset.op = iv.op.index;
        n.appendChild(el("span", "flabel", iv.label));
        a.hoverTip(n, iv.label + " on " + name + "\n" + fmt(iv.t0) + " \u2192 " + fmt(iv.t1));
        a.clickable(n, iv.op);
        a.addItem(n, iv.t0, iv.t1, name, l.y, l.h);
      });
    });
    // tests: spans, and a marker where each failed
    var tl = L[TESTS];
    m.tests.forEach(function (t, i) {
      if (!tl) return;
      var n = el("div", "test-span " + t.status, t.name);
      n.dataset.test = t.name; n.dataset.status = t.status;
      a.hoverTip(n, t.name + "\n" + t.status + " \u00b7 " + fmt(t.start) + " \u2192 " + fmt(t["end"]) +
        (t.message ? "\n" + t.message : ""));
      n.addEventListener("click", function () { a.filterTest(t.name, true); });
      a.addItem(n, t.start, t["end"], TESTS, tl.y + 6, 14, 2);
      if (t.status === "fail") {
        var at = t.failed_at !== undefined ? t.failed_at : t["end"];
        var mk = el("a", "marker assert");
        mk.href = "#diag-" + i;
        mk.dataset.test = t.name;
        a.hoverTip(mk, "failed: " + t.name + " at " + fmt(at) + "\n" + (t.message || "") + (t.at ? "\n" + t.at : ""));
        mk.addEventListener("click", function (e) { e.preventDefault(); a.showDiag(i); });
        a.addItem(mk, at, at, TESTS, AXIS_H, a.lanes.height - AXIS_H);
      }
    });
    // control markers (kill, stop, pause, ...) and stream drops, resumes
    m.markers.forEach(function (mk) {
      var l = L[mk.lane];
      if (!l) return;
      var n = el("div", "marker " + mk.kind);
      n.dataset.kind = mk.kind; n.dataset.lane = mk.lane; n.dataset.op = mk.op.index;
      var text = mk.label + " at " + fmt(mk.t);
      if (mk.done) text += "\n" + mk.done.type + (mk.done.error ? ": " + (mk.done.error.message || mk.done.error.kind) : "") +
        " after " + fmtDur(mk.done.time - mk.t);
      a.hoverTip(n, text);
      a.clickable(n, mk.op);
      a.addItem(n, mk.t, mk.t, mk.lane, l.y, l.h);
    });
    // checks: poll_until and consistently windows with their attempts
    var cl = L[CHECKS];
    if (cl && m.polls.length <= DOM_POLL_MAX) {
      m.polls.forEach(function (s) {
        var attempts = s.done ? field(s.done, "attempts") : undefined;
        var n = el("div", "poll " + (s.done && s.done.type === "ok" ? "ok" : "fail"),
          short(s.op.value, 40) + (attempts !== undefined ? " \u00d7" + attempts : ""));
        n.dataset.op = s.op.index;
        a.hoverTip(n, s.op.f + " " + short(s.op.value, 200) + "\n" + outcomeText(s) +
          (attempts !== undefined ? " after " + attempts + " attempts" : "") + " \u00b7 " + fmt(s.t1 - s.t0));
        a.clickable(n, s.op);
        a.addItem(n, s.t0, s.t1, CHECKS, cl.y + 6, 10, 2);
      });
    }
    // log lines: DOM ticks with their text while there are few
    a.domLogs = m.logs.length <= DOM_LOG_MAX;
    if (a.domLogs) {
      m.logs.forEach(function (row) {
        var l = L[row[1]];
        if (!l) return;
        var n = el("div", "logtick");
        n.dataset.lane = row[1];
        a.hoverTip(n, row[1] + " " + fmt(row[0]) + "\n" + row[2]);
        var box = rowBox(l, "log");
        a.addItem(n, row[0], row[0], row[1], box[0], box[1]);
      });
    }
    // few operations: DOM boxes too (tests find and click them)
    a.domOps = m.spans.length <= DOM_OPS_MAX;
    if (a.domOps) {
      m.spans.forEach(function (s) {
        var l = L[s.lane];
        if (!l) return;
        var n = el("div", "op-box");
        n.dataset.op = s.op.index; n.dataset.cls = s.cls;
        a.hoverTip(n, describe(s.op) + "\n" + outcomeText(s) + " \u00b7 " + fmt(s.t0) + " +" + fmtDur(s.t1 - s.t0));
        a.clickable(n, s.op);
        var box = rowBox(l, s.row);
        a.addItem(n, s.t0, s.t1, s.lane, box[0], box[1], 3);
      });
    }
  };

  App.prototype.clickable = function (node, op) {
    var a = this;
    if (!op) return;
    node.addEventListener("click", function (e) { e.stopPropagation(); a.select(op.index, false); });
  };

  /* ---- drawing ------------------------------------------------------------ */

  App.prototype.x = function (t) { return (t - this.view.t0) / (this.view.t1 - this.view.t0) * this.width; };
  App.prototype.t = function (x) { return this.view.t0 + x / this.width * (this.view.t1 - this.view.t0); };

  // the state of the last draw is kept on <body>: data-draw-ms (how long
  // it took), data-view (the time range shown), data-test (the filter)
  App.prototype.draw = function () {
    var started = performance.now();
    this.drawAll();
    var body = document.body.dataset;
    body.drawMs = (performance.now() - started).toFixed(1);
    body.view = this.view.t0.toFixed(3) + "-" + this.view.t1.toFixed(3);
    body.test = this.testFilter || "";
  };

  App.prototype.drawAll = function () {
    var a = this, ctx = a.canvas.getContext("2d"), W = a.width, H = a.lanes.height, m = a.model;
    ctx.setTransform(a.ratio, 0, 0, a.ratio, 0, 0);
    ctx.clearRect(0, 0, W, H);
    a.lanes.list.forEach(function (l, i) {
      ctx.fillStyle = i % 2 ? "#fafbfb" : "#ffffff";
      ctx.fillRect(0, l.y, W, l.h);
    });
    a.drawAxis(ctx, W);
    var L = a.lanes.byName, cols = {}, Wc = Math.ceil(W) + 1;
    var NC = CLASS_BY_SEVERITY_INDEX.length;
    // column(key, x, cls): one more operation of class cls in pixel column x of a row
    function column(key, x, cls) {
      var c = cols[key];
      if (!c) c = cols[key] = { n: new Uint16Array(Wc * NC), any: new Uint8Array(Wc) };
      var k = x | 0, at = k * NC + SEVERITY_INDEX[cls];
      c.any[k] = 1;
      if (c.n[at] < 65535) c.n[at]++;
    }
    var test = a.testFilter, spans = m.spans;
    // spans are sorted by start: skip those that ended before the view
    // (none lasts longer than maxDuration) and stop at the first after it
    var first = lowerBound(spans, a.view.t0 - m.maxDuration);
    for (var i = first; i < spans.length; i++) {
      var s = spans[i];
      if (s.t0 > a.view.t1) break;
      var l = L[s.lane];
      if (!l) continue;
      var x0 = a.x(s.t0), x1 = a.x(s.t1);
      if (x1 < 0) continue;
      var dim = test && s.op.test !== test;
      if (x1 - x0 < COLUMN_SPAN && !dim) {
        for (var cx = Math.max(0, x0) | 0, cend = Math.min(x1, W) | 0; cx <= cend; cx++) column(s.key, cx, s.cls);
        continue;
      }
      var box = rowBox(l, s.row);
      ctx.globalAlpha = dim ? 0.15 : 0.8;
      ctx.fillStyle = CLASS_COLOURS[s.cls] || "#888";
      ctx.fillRect(x0, box[0], Math.max(x1 - x0, 1), box[1]);
    }
    ctx.globalAlpha = 1;
    m.points.forEach(function (p) {
      var x = a.x(p.t);
      if (x < 0 || x > W || !L[p.lane]) return;
      column(p.lane + SEP + p.row + SEP + "pt", x, "point");
    });
    if (!a.domLogs) m.logs.forEach(function (row) {
      var x = a.x(row[0]);
      if (x < 0 || x > W || !L[row[1]]) return;
      column(row[1] + SEP + "log", x, "point");
    });
    // aggregated columns: one pixel each, the worst outcome's colour,
    // darker with more operations
    // each column is split by outcome in proportion to the operations of
    // each (the worst on top, at least one pixel each); one path per colour
    var paths = [];
    Object.keys(cols).forEach(function (key) {
      var parts = key.split(SEP), l = L[parts[0]], row = parts[1], box = rowBox(l, row), c = cols[key];
      var top = box[0], h = box[1];
      if (parts[2] === "pt" && row === "sse") { top -= 2; h += 4; }
      for (var k = 0; k < Wc; k++) {
        if (!c.any[k]) continue;
        var total = 0, j;
        for (j = 0; j < NC; j++) total += c.n[k * NC + j];
        var y = top, bottom = top + h;
        for (j = NC - 1; j >= 0 && y < bottom; j--) {
          var n = c.n[k * NC + j];
          if (!n) continue;
          var part = Math.min(Math.max(1, Math.round(h * n / total)), bottom - y);
          (paths[j] || (paths[j] = new Path2D())).rect(k, y, 1, part);
          y += part;
        }
      }
    });
    ctx.globalAlpha = 0.85;
    paths.forEach(function (path, j) {
      ctx.fillStyle = CLASS_COLOURS[CLASS_BY_SEVERITY_INDEX[j]] || "#888";
      ctx.fill(path);
    });
    ctx.globalAlpha = 1;
    if (a.selected) {
      var s = a.selected, l = L[s.lane];
      if (l) {
        var box = rowBox(l, s.row || "req"), x0 = a.x(s.t0), x1 = a.x(s.t1);
        ctx.strokeStyle = "#1f5fae"; ctx.lineWidth = 2;
        ctx.strokeRect(x0 - 2, box[0] - 2, Math.max(x1 - x0, 1) + 4, box[1] + 4);
      }
    }
    a.placeItems();
  };

  App.prototype.drawAxis = function (ctx, W) {
    var a = this, span = a.view.t1 - a.view.t0, target = span / Math.max(2, W / 110);
    var step = Math.pow(10, Math.floor(Math.log10(target)));
    [1, 2, 5, 10].some(function (f) { if (step * f >= target) { step *= f; return true; } return false; });
    ctx.fillStyle = "#f6f7f8"; ctx.fillRect(0, 0, W, AXIS_H);
    ctx.fillStyle = "#6b7075"; ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
    ctx.strokeStyle = "#e4e6e8"; ctx.lineWidth = 1;
    var digits = Math.max(0, -Math.floor(Math.log10(step)));
    for (var t = Math.ceil(a.view.t0 / step) * step; t <= a.view.t1; t += step) {
      var x = Math.round(a.x(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, AXIS_H - 5); ctx.lineTo(x, a.lanes.height); ctx.stroke();
      ctx.fillText(t.toFixed(Math.min(digits, 4)) + " s", x + 3, AXIS_H / 2);
    }
  };

  // place the DOM items where the view puts them; hide those outside
  App.prototype.placeItems = function () {
    var a = this, W = a.width, test = a.testFilter;
    a.items.forEach(function (it) {
      var x0 = a.x(it.t0), x1 = a.x(it.t1), n = it.node;
      if (x1 < -8 || x0 > W + 8) { n.style.display = "none"; return; }
      n.style.display = "";
      n.style.left = x0.toFixed(1) + "px";
      if (it.t1 !== it.t0 || it.minW) n.style.width = Math.max(x1 - x0, it.minW).toFixed(1) + "px";
      if (n.classList.contains("test-span")) n.classList.toggle("dim", !!test && n.dataset.test !== test);
    });
  };

  App.prototype.redraw = function () {
    var a = this;
    if (a.pending) return;
    a.pending = true;
    requestAnimationFrame(function () { a.pending = false; a.draw(); });
  };

  /* ---- view, input -------------------------------------------------------- */

  App.prototype.setView = function (t0, t1) {
    var max = this.model.end * 1.5 + 1, min = 1e-4;
    if (t1 - t0 < min) { var c = (t0 + t1) / 2; t0 = c - min / 2; t1 = c + min / 2; }
    if (t1 - t0 > max) { t0 = -0.02 * max; t1 = t0 + max; }
    this.view = { t0: t0, t1: t1 };
    this.redraw();
  };

  App.prototype.zoom = function (factor, at) {
    var v = this.view, pivot = v.t0 + (v.t1 - v.t0) * at;
    this.setView(pivot - (pivot - v.t0) * factor, pivot + (v.t1 - pivot) * factor);
  };

  App.prototype.bindInput = function () {
    var a = this, plot = a.plot, drag = null;
    plot.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = plot.getBoundingClientRect();
      a.zoom(Math.exp(e.deltaY * 0.0015), (e.clientX - r.left) / a.width);
    }, { passive: false });
    plot.addEventListener("mousedown", function (e) {
      if (e.button !== 0) return;
      drag = { x: e.clientX, t0: a.view.t0, t1: a.view.t1, moved: false };
      plot.classList.add("dragging");
    });
    window.addEventListener("mousemove", function (e) {
      if (drag) {
        var dx = e.clientX - drag.x;
        if (Math.abs(dx) > 3) drag.moved = true;
        var dt = dx / a.width * (drag.t1 - drag.t0);
        a.setView(drag.t0 - dt, drag.t1 - dt);
        return;
      }
      if (e.target === a.canvas) a.hover(e);
    });
    window.addEventListener("mouseup", function (e) {
      if (!drag) return;
      var moved = drag.moved;
      drag = null;
      plot.classList.remove("dragging");
      if (!moved && e.target === a.canvas) {
        var hit = a.hit(e);
        if (hit) a.select(hit.op.index, false);
      }
    });
    a.canvas.addEventListener("mouseleave", function () { a.hideTip(); });
  };

  // hit(event) -> the span or log line under the pointer on the canvas
  App.prototype.hit = function (e) {
    var a = this, r = a.canvas.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
    var lane = null;
    a.lanes.list.forEach(function (l) { if (y >= l.y && y < l.y + l.h) lane = l; });
    if (!lane) return null;
    var best = null, bestD = 4;
    function consider(item, x0, x1, row) {
      var box = rowBox(lane, row);
      if (y < box[0] - 3 || y > box[0] + box[1] + 3) return;
      var d = x < x0 ? x0 - x : x > x1 ? x - x1 : 0;
      if (d < bestD || (d === bestD && best && item.t0 > best.t0)) { bestD = d; best = item; }
    }
    a.model.spans.forEach(function (s) { if (s.lane === lane.name) consider(s, a.x(s.t0), a.x(s.t1), s.row); });
    a.model.points.forEach(function (p) { if (p.lane === lane.name) { var px = a.x(p.t); consider(a.model.spanOf[p.op.index], px, px, p.row); } });
    if (best) return best;
    if (!a.domLogs) {
      a.model.logs.forEach(function (row) {
        if (row[1] !== lane.name) return;
        var px = a.x(row[0]), box = rowBox(lane, "log");
        if (y >= box[0] - 3 && y <= box[0] + box[1] + 3 && Math.abs(px - x) < bestD) { bestD = Math.abs(px - x); best = { log: row }; }
      });
    }
    return best && best.log ? best : best;
  };

  App.prototype.hover = function (e) {
    var h = this.hit(e);
    if (!h) { this.hideTip(); return; }
    if (h.log) { this.showTip(h.log[1] + " " + fmt(h.log[0]) + "\n" + h.log[2], e); return; }
    if (!h.op) { this.hideTip(); return; }
    this.showTip(describe(h.op) + "\n" + outcomeText(h) + " \u00b7 " + fmt(h.t0) + " +" + fmtDur((h.t1 || h.t0) - h.t0), e);
  };

  App.prototype.showTip = function (text, e) {
    var tip = this.tip;
    tip.textContent = text;
    tip.style.display = "block";
    tip.style.left = Math.min(e.clientX + 12, window.innerWidth - 300) + "px";
    tip.style.top = (e.clientY + 14) + "px";
  };
  App.prototype.hideTip = function () { this.tip.style.display = "none"; };

  /* ---- selection, details, filters, deep links ----------------------------- */

  function detailText(span) {
    var op = span.op, d = span.done, lines = [];
    lines.push(describe(op));
    lines.push("index " + op.index + (d ? " \u2192 " + d.index : "") + " \u00b7 process " + op.process +
      (op.pod ? " \u00b7 pod " + op.pod : "") + (op.test ? " \u00b7 test " + op.test : ""));
    lines.push("time " + fmt(op.time) + (d ? " \u2192 " + fmt(d.time) + " (" + fmtDur(d.time - op.time) + ")" : "") +
      " \u00b7 " + outcomeText(span));
    function block(title, v) {
      if (v === undefined || v === null) return;
      if (typeof v === "object" && !Array.isArray(v)) {
        lines.push(title + ":");
        Object.keys(v).sort().forEach(function (k) { lines.push("  " + k + ": " + short(v[k], 400)); });
      } else lines.push(title + ": " + short(v, 1000));
    }
    var skip = { index: 1, time: 1, process: 1, type: 1, f: 1, pod: 1, test: 1, invoke: 1, engine: 1 };
    [["invoke", op], ["completion", d]].forEach(function (pair) {
      var o = pair[1];
      if (!o) return;
      lines.push("");
      lines.push("\u2014 " + pair[0] + " (" + o.type + ")");
      Object.keys(o).sort().forEach(function (k) { if (!skip[k]) block(k, o[k]); });
    });
    return lines.join("\n");
  }

  App.prototype.select = function (index, center) {
    var a = this, s = a.model.spanOf[index];
    if (!s) return;
    a.selected = s;
    var pre = a.details.querySelector("pre");
    pre.textContent = detailText(s);
    a.details.dataset.op = index;
    a.overlay.querySelectorAll(".sel").forEach(function (n) { n.classList.remove("sel"); });
    a.overlay.querySelectorAll('[data-op="' + index + '"]').forEach(function (n) { n.classList.add("sel"); });
    if (center) {
      var span = Math.max((s.t1 - s.t0) * 6, Math.min(2, a.view.t1 - a.view.t0));
      var mid = (s.t0 + s.t1) / 2;
      a.setView(mid - span / 2, mid + span / 2);
    }
    a.writeHash("op=" + index);
    a.redraw();
  };

  App.prototype.showDiag = function (i) {
    var n = document.getElementById("diag-" + i);
    if (!n) return;
    this.diags.querySelectorAll(".diag.sel").forEach(function (d) { d.classList.remove("sel"); });
    n.classList.add("sel");
    if (n.scrollIntoView) n.scrollIntoView({ block: "nearest" });
  };

  App.prototype.filterTest = function (name, move) {
    var a = this, t = null;
    a.model.tests.forEach(function (x) { if (x.name === name) t = x; });
    a.testFilter = t ? name : null;
    a.testSelect.value = t ? name : "";
    if (t && move) {
      var pad = Math.max((t["end"] - t.start) * 0.05, 0.05);
      a.setView(t.start - pad, t["end"] + pad);
    }
    a.writeHash(t ? "test=" + encodeURIComponent(name) : "");
    a.redraw();
  };

  App.prototype.writeHash = function (h) {
    this.ownHash = h ? "#" + h : "";
    try { history.replaceState(null, "", h ? "#" + h : location.pathname + location.search); } catch (e) { /* file:// may refuse */ }
  };

  App.prototype.readHash = function () {
    var h = location.hash.replace(/^#/, ""), a = this;
    if (("#" + h) === a.ownHash) return;
    var m;
    if ((m = /^op=(\d+)$/.exec(h))) a.select(+m[1], true);
    else if ((m = /^test=(.*)$/.exec(h))) a.filterTest(decodeURIComponent(m[1]), true);
    else if ((m = /^t=(-?[\d.]+)-(-?[\d.]+)$/.exec(h))) a.setView(+m[1], +m[2]);
    else if ((m = /^diag-(\d+)$/.exec(h))) a.showDiag(+m[1]);
  };

  /* ---- start ---------------------------------------------------------------- */

  function start() {
    var slug = document.body.dataset.slug, root = document.getElementById("app");
    if (!slug || !root) return;
    var data = (window.MPOD_REPORT || {})[slug];
    if (!data) { root.textContent = "No data for " + slug + " (data/" + slug + ".js did not load)."; return; }
    var started = performance.now();
    window.mpodTimeline = new App(data, root);
    document.body.dataset.loadMs = (performance.now() - started).toFixed(1);
    document.body.dataset.ready = "1";
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
