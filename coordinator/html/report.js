/* tbt HTML report: draws the page from the inline JSON (docs/html-report.md).
 * Vanilla JavaScript, no network. Every text from the data goes into the
 * page through textContent or attribute setters, never as markup. */
(function () {
  'use strict';
  var t0 = performance.now();
  var ROW_H = 24;          /* px, matches --row-h in report.css */
  var MARGIN_ROWS = 20;    /* rows drawn above and below the visible window */
  var MAX_SCROLLER_H = 600;
  var SPAN_RESULTS_SHOWN = 50;
  var F_ASSERTED = 1, F_FAILED = 2, F_LINKED = 4, F_NO_ATTRS = 8, F_ORPHAN = 16;
  var KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
  var STATUSES = ['unset', 'ok', 'error'];
  /* column positions in a view row (the view's "columns") */
  var C_ID = 0, C_PARENT = 1, C_NAME = 2, C_SVC = 3, C_TRACE = 4, C_KIND = 5, C_STATUS = 6, C_FLAGS = 7,
    C_START = 8, C_DUR = 9, C_EVENTS = 10, C_LINKS = 11, C_MSG = 12, C_ATTRS = 13;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  function svgEl(tag, attrs) {
    var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  function fmtNs(ns) {
    ns = Number(ns);
    if (!isFinite(ns)) return String(ns);
    if (ns < 1e3) return ns.toFixed(0) + 'ns';
    if (ns < 1e6) return trim(ns / 1e3) + 'µs';
    if (ns < 1e9) return trim(ns / 1e6) + 'ms';
    return trim(ns / 1e9) + 's';
  }
  function trim(x) { return String(Number(x.toFixed(x >= 100 ? 1 : x >= 10 ? 2 : 3))); }
  function fmtMs(ms) { return fmtNs(ms * 1e6); }
  function plural(n, w) { return n + ' ' + w + (n === 1 ? '' : 's'); }

  function serviceColor(i) {
    var hues = [210, 30, 140, 280, 0, 175, 55, 320, 100, 250, 15, 195];
    var h = hues[i % hues.length], l = 45 + 10 * (Math.floor(i / hues.length) % 3);
    return 'hsl(' + h + ',62%,' + l + '%)';
  }

  var data;
  try {
    data = JSON.parse(document.getElementById('tbt-data').textContent);
  } catch (e) {
    document.getElementById('app').textContent = 'The report data could not be read: ' + e.message;
    return;
  }
  var app = document.getElementById('app');
  app.textContent = '';
  var detail = document.getElementById('span-detail');
  var waterfalls = [];

  /* ---- summary ---------------------------------------------------------- */
  (function summary() {
    var s = document.getElementById('summary');
    var parts = [];
    if (data.run && !data.campaign) {
      var m = data.run.summary;
      parts.push(plural(m.tests, 'test') + ': ' + m.passed + ' passed, ' + m.failed + ' failed, ' +
        plural(m.errors, 'error') + (m.skipped ? ', ' + m.skipped + ' skipped' : ''));
      s.className = data.run.passed ? 'pass' : 'fail';
      document.title = 'tbt: ' + (data.run.passed ? 'passed' : 'FAILED') + ' (' + parts[0] + ')';
    }
    if (data.campaign) {
      parts.push('campaign ' + (data.campaign.passed ? 'passed' : 'FAILED'));
      {
        s.className = data.campaign.passed ? 'pass' : 'fail';
        document.title = 'tbt campaign: ' + (data.campaign.passed ? 'passed' : 'FAILED');
      }
    }
    s.textContent = parts.join(' · ');
  })();

  /* ---- campaign ----------------------------------------------------------- */
  function histogram(series, title) {
    var box = el('div', 'chart');
    add(box, el('h3', null, title));
    var h = series.histogram || {};
    var buckets = h.buckets || [];
    if (!series.count || !buckets.length) {
      add(box, el('div', 'view-note', 'no data'));
      return box;
    }
    var W = 400, H = 140, PAD = 18, NB = 40;
    var lo = Math.max(1, buckets[0][0]), hi = Math.max(lo + 1, buckets[buckets.length - 1][1]);
    var llo = Math.log(lo), lhi = Math.log(hi), span = Math.max(1e-9, lhi - llo);
    var bins = new Array(NB).fill(0);
    buckets.forEach(function (b) {
      var mid = Math.max(1, (b[0] + b[1]) / 2);
      var k = Math.min(NB - 1, Math.max(0, Math.floor((Math.log(mid) - llo) / span * NB)));
      bins[k] += b[2];
    });
    var top = Math.max.apply(null, bins);
    var svg = svgEl('svg', {'class': 'hist-chart', viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none',
      role: 'img', 'data-count': series.count});
    var bw = (W - 2) / NB;
    bins.forEach(function (c, k) {
      if (!c) return;
      var bh = Math.max(1, (H - PAD - 4) * c / top);
      var r = svgEl('rect', {'class': 'hist-bar', x: (1 + k * bw).toFixed(2), y: (H - PAD - bh).toFixed(2),
        width: Math.max(1, bw - 1).toFixed(2), height: bh.toFixed(2), 'data-count': c});
      var tt = svgEl('title', {});
      tt.textContent = c + ' runs around ' + fmtNs(Math.exp(llo + (k + 0.5) / NB * span));
      r.appendChild(tt);
      svg.appendChild(r);
    });
    var a1 = svgEl('text', {'class': 'hist-axis', x: 2, y: H - 4});
    a1.textContent = fmtNs(lo);
    var a2 = svgEl('text', {'class': 'hist-axis', x: W - 2, y: H - 4, 'text-anchor': 'end'});
    a2.textContent = fmtNs(hi) + ' (log scale)';
    svg.appendChild(a1);
    svg.appendChild(a2);
    add(box, svg);
    return box;
  }

  function percentileRow(tb, name, s) {
    var tr = add(tb, el('tr'));
    add(tr, el('th', null, name));
    if (!s.count) {
      var td = add(tr, el('td', 'view-note', 'no data'));
      td.colSpan = 6;
      return;
    }
    ['p50', 'p90', 'p95', 'p99', 'max', 'mean'].forEach(function (k) { add(tr, el('td', 'mono', fmtNs(s[k]))); });
  }

  function renderCampaign() {
    var c = data.campaign;
    var sec = add(app, el('section'));
    sec.id = 'campaign';
    var head = add(sec, el('div', 'test-head'));
    add(head, el('span', 'badge ' + (c.passed ? 'status-passed' : 'status-failed'), c.passed ? 'passed' : 'failed'));
    add(head, el('h2', null, 'Campaign'));
    if (c.duplicates) add(head, el('span', 'env', c.duplicates + ' duplicate results from redelivered jobs counted once'));
    (c.campaign || []).forEach(function (r, i) {
      var row = add(sec, el('div', 'campaign-row ' + (r.passed ? 'passed' : 'failed')));
      row.setAttribute('data-environment', r.environment || '');
      row.setAttribute('data-test', r.test || '');
      var h = add(row, el('div'));
      add(h, el('span', 'mark ' + (r.passed ? 'pass' : 'fail'), r.passed ? '✔ ' : '✘ '));
      add(h, el('strong', null, r.test));
      add(h, el('span', 'env', ' [' + r.environment + ']'));
      if (r.file) add(h, el('span', 'env', ' ' + r.file));
      add(row, el('div', 'stats', r.runs + ' runs, ' + r.passedRuns + ' passed, ' + r.failedRuns + ' failed, ' +
        r.errorRuns + ' errors · pass ratio ' + Number(r.passRatio).toFixed(4) + ' · ' +
        Number(r.runsPerSecond).toFixed(1) + ' runs/s'));
      var tbl = add(row, el('table', 'grid percentiles'));
      var hr = add(tbl, el('tr'));
      ['', 'p50', 'p90', 'p95', 'p99', 'max', 'mean'].forEach(function (k) { add(hr, el('th', null, k)); });
      percentileRow(tbl, 'trace.duration', r.traceDuration);
      percentileRow(tbl, 'verdict.latency', r.verdictLatency);
      var charts = add(row, el('div', 'charts'));
      add(charts, histogram(r.traceDuration, 'trace.duration'));
      add(charts, histogram(r.verdictLatency, 'verdict.latency'));
      var obs = (data.campaignObserved && data.campaignObserved[i]) || [];
      if (r.thresholds && r.thresholds.length) {
        add(row, el('h3', null, 'Thresholds'));
        r.thresholds.forEach(function (t, k) {
          var d = add(row, el('div', 'threshold ' + (t.passed ? 'passed' : 'failed')));
          d.textContent = (t.passed ? '✔ ' : '✘ ') + t.threshold + ' (observed ' + (obs[k] !== undefined ? obs[k] : t.observed) + ')';
        });
      }
      if (r.failingSpecs && r.failingSpecs.length) {
        add(row, el('h3', null, 'Most frequent failures'));
        var ft = add(row, el('table', 'grid'));
        r.failingSpecs.slice(0, 10).forEach(function (f) {
          var tr = add(ft, el('tr', 'failing-spec'));
          add(tr, el('td', 'count', f.count + '×'));
          add(tr, el('td', null, f.spec));
          add(tr, el('td', 'mono', f.example || ''));
        });
        if (r.failingSpecs.length > 10) add(row, el('div', 'more', '… and ' + (r.failingSpecs.length - 10) + ' more'));
      }
      if (r.error) add(row, el('pre', 'test-error', 'error (e.g.): ' + r.error));
    });
  }

  /* ---- tests ---------------------------------------------------------------- */
  function metaRow(dl, k, v, cls) {
    if (v === undefined || v === null || v === '') return;
    add(dl, el('dt', null, k));
    add(dl, el('dd', cls || null, v));
  }

  /* spans' assertions, keyed "traceId/spanId" */
  function assertionsBySpan(t) {
    var map = new Map();
    (t.specs || []).forEach(function (sp) {
      (sp.assertions || []).forEach(function (a) {
        (a.spans || []).forEach(function (s) {
          if (!s.spanId) return;
          var key = (s.traceId || '') + '/' + s.spanId;
          var list = map.get(key);
          if (!list) map.set(key, list = []);
          list.push({spec: sp.name || sp.selector || '(all spans)', assertion: a.assertion, r: s});
        });
      });
    });
    return map;
  }

  function renderSpecs(box, t, ti) {
    if (!t.specs || !t.specs.length) return;
    add(box, el('h3', null, 'Specs'));
    t.specs.forEach(function (sp) {
      var d = add(box, el('div', 'spec ' + (sp.passed ? 'passed' : 'failed')));
      var h = add(d, el('div', 'spec-head'));
      add(h, el('span', 'mark', sp.passed ? '✔' : '✘'));
      add(h, el('span', 'spec-name', sp.name || sp.selector || '(all spans)'));
      if (sp.name) add(h, el('code', 'selector', sp.selector));
      add(h, el('span', 'env', plural(sp.selectedSpans, 'span')));
      if (sp.error) add(d, el('pre', 'test-error', sp.error));
      var ul = add(d, el('ul', 'assertions'));
      (sp.assertions || []).forEach(function (a) {
        var li = add(ul, el('li', 'assertion ' + (a.passed ? 'passed' : 'failed')));
        add(li, el('span', 'mark', a.passed ? '✔' : '✘'));
        add(li, el('code', null, a.assertion));
        if (a.warning) add(li, el('div', 'warning', '⚠ ' + a.warning));
        var spans = a.spans || [];
        var failing = spans.filter(function (s) { return !s.passed; });
        var shown = failing.length ? failing : spans;
        var tbl = add(li, el('table', 'span-results'));
        var hr = add(tbl, el('tr'));
        ['', 'span', 'service', 'observed', 'expected'].forEach(function (k) { add(hr, el('th', null, k)); });
        shown.slice(0, SPAN_RESULTS_SHOWN).forEach(function (s) {
          var tr = add(tbl, el('tr', 'span-result ' + (s.passed ? 'passed' : 'failed')));
          tr.setAttribute('data-span-id', s.spanId || '');
          tr.setAttribute('data-trace-id', s.traceId || '');
          add(tr, el('td', 'mark ' + (s.passed ? 'pass' : 'fail'), s.passed ? '✔' : '✘'));
          add(tr, el('td', 'mono', s.spanId ? '#' + s.spanId + ' ' + (s.spanName || '') : '(no span matched)'));
          add(tr, el('td', null, s.service || ''));
          add(tr, el('td', 'mono observed', s.error ? 'error: ' + s.error : s.observed === null ? '' : s.observed));
          add(tr, el('td', 'mono expected', s.expected === undefined ? '' : s.expected));
          if (s.spanId) tr.addEventListener('click', function () {
            var wf = waterfalls[ti];
            if (wf) wf.revealSpan((s.traceId || '') + '/' + s.spanId);
          });
        });
        var rest = spans.length - Math.min(shown.length, SPAN_RESULTS_SHOWN);
        if (rest > 0)
          add(li, el('div', 'more', plural(spans.length, 'span') + ' in all: ' + (spans.length - failing.length) +
            ' passed, ' + failing.length + ' failed (' + rest + ' not listed)'));
      });
    });
  }

  function renderLint(box, l) {
    var d = add(box, el('div', 'lint'));
    add(d, el('h3', null, 'Instrumentation analyzer'));
    var s = add(d, el('div'));
    add(s, el('span', 'score ' + (l.scorePassed ? 'pass' : 'fail'), 'score ' + l.score + '/100'));
    if (l.minimumScore) add(s, el('span', 'env', ' (minimum ' + l.minimumScore + ')'));
    add(s, el('span', l.rulesPassed ? 'pass' : 'fail', l.rulesPassed ? ' · rules passed' : ' · a rule at level error failed'));
    var tbl = add(d, el('table', 'grid'));
    var hr = add(tbl, el('tr'));
    ['', 'rule', 'level', 'weight', 'findings'].forEach(function (k) { add(hr, el('th', null, k)); });
    (l.rules || []).forEach(function (r) {
      var tr = add(tbl, el('tr', 'lint-rule ' + (r.passed ? 'passed' : 'failed')));
      add(tr, el('td', r.passed ? 'pass' : 'fail', r.passed ? '✔' : '✘'));
      var td = add(tr, el('td'));
      add(td, el('code', null, r.plugin + '/' + r.id));
      if (r.description) add(td, el('div', 'env', r.description));
      add(tr, el('td', 'nowrap', r.level));
      add(tr, el('td', 'nowrap', r.weight));
      var fd = add(tr, el('td'));
      (r.findings || []).forEach(function (f) {
        add(fd, el('div', 'mono', (f.spanId ? '#' + f.spanId + ' ' + (f.spanName || '') + ': ' : '') + f.message));
      });
      if (r.findingsTotal > (r.findings || []).length)
        add(fd, el('div', 'more', (r.findingsTotal - r.findings.length) + ' more'));
    });
  }

  function renderTest(t, i) {
    var ex = (data.extra && data.extra[i]) || {};
    var sec = add(app, el('section', 'test ' + t.status));
    sec.id = 'test-' + i;
    sec.setAttribute('data-test-index', i);
    sec.setAttribute('data-status', t.status);
    var head = add(sec, el('div', 'test-head'));
    add(head, el('span', 'badge status-' + t.status, t.status));
    add(head, el('h2', null, t.name || t.id || '(unnamed test)'));
    if (t.environment) add(head, el('span', 'env', '[' + t.environment + ']'));
    if (t.suite) add(head, el('span', 'suite', 'suite ' + t.suite));
    var dl = add(sec, el('dl', 'meta'));
    metaRow(dl, 'trace id', t.traceId, 'mono trace-id');
    metaRow(dl, 'file', t.file, 'mono');
    metaRow(dl, 'spans', t.spans + (t.traces > 1 ? ' in ' + t.traces + ' traces (linked)' : ''));
    var tm = t.timings || {};
    var parts = [];
    if (tm.triggerMs) parts.push('trigger ' + fmtMs(tm.triggerMs));
    if (tm.traceMs) parts.push('trace complete after ' + fmtMs(tm.traceMs));
    if (tm.evalMs) parts.push('evaluation ' + fmtMs(tm.evalMs));
    if (ex.extentNs) parts.push('trace extent ' + fmtNs(ex.extentNs));
    metaRow(dl, 'timings', parts.join(' · '));
    metaRow(dl, 'completion', t.completion, 'completion');
    if (t.error) add(sec, el('pre', 'test-error', t.error));
    if (t.outputs && t.outputs.length) {
      add(sec, el('h3', null, 'Outputs'));
      var ot = add(sec, el('table', 'grid'));
      t.outputs.forEach(function (o) {
        var tr = add(ot, el('tr'));
        add(tr, el('td', 'mono', o.name));
        add(tr, el('td', 'mono', o.value === null ? '(unresolved' + (o.warning ? ': ' + o.warning : '') + ')' : o.value));
      });
    }
    renderSpecs(sec, t, i);
    if (ex.lint) renderLint(sec, ex.lint);
    var wbox = add(sec, el('div', 'waterfall'));
    add(wbox, el('h3', null, 'Trace'));
    var node = document.getElementById('tbt-view-' + i);
    if (!node) {
      add(wbox, el('div', 'view-note', t.status === 'skipped' ? 'not run' :
        'no trace view: the test produced no trace, or it was not kept'));
      return;
    }
    var view;
    try {
      view = JSON.parse(node.textContent);
      if (!view || !Array.isArray(view.spans) || !Array.isArray(view.strings)) throw new Error('not a trace view');
    } catch (e) {
      add(wbox, el('div', 'view-note view-error', 'the trace view could not be read: ' + e.message));
      return;
    }
    waterfalls[i] = new Waterfall(wbox, view, assertionsBySpan(t), i);
  }

  /* ---- the waterfall -------------------------------------------------------- */
  function Waterfall(box, view, asserts, ti) {
    var self = this;
    var rows = view.spans, S = view.strings, n = rows.length;
    this.rows = rows; this.S = S; this.view = view; this.asserts = asserts; this.ti = ti;
    var parent = this.parent = new Int32Array(n);
    var depth = this.depth = new Int32Array(n);
    var end = this.end = new Int32Array(n);
    this.collapsed = new Uint8Array(n);
    this.visible = new Int32Array(n);
    this.nVisible = 0;
    this.selected = -1;
    this.byKey = new Map();
    var failing = [];
    var svcIndex = new Map(), svcCount = [];
    for (var i = 0; i < n; i++) {
      var r = rows[i];
      var p = r[C_PARENT] | 0;
      if (p < 0 || p >= i) p = -1; /* a view lists parents first; anything else is a root */
      parent[i] = p;
      depth[i] = p >= 0 ? depth[p] + 1 : 0;
      end[i] = i + 1;
      if (r[C_FLAGS] & F_FAILED) failing.push(i);
      var sv = r[C_SVC];
      if (!svcIndex.has(sv)) { svcIndex.set(sv, svcIndex.size); svcCount.push(0); }
      svcCount[svcIndex.get(sv)]++;
      this.byKey.set(S[r[C_TRACE]] + '/' + r[C_ID], i);
    }
    for (i = n - 1; i >= 0; i--)
      if (parent[i] >= 0 && end[i] > end[parent[i]]) end[parent[i]] = end[i];
    this.failing = failing;
    this.failCursor = -1;
    this.colors = [];
    svcIndex.forEach(function (k, sv) { self.colors[sv] = serviceColor(k); });
    this.total = Math.max(1, Number(view.durationNs) || 0);

    var bar = add(box, el('div', 'wf-toolbar'));
    var count = add(bar, el('span', 'span-count', view.spanCount + ' spans' +
      (view.omitted ? ' (' + view.omitted + ' left out of this view, ' + n + ' shown)' : '')));
    count.setAttribute('data-span-count', view.spanCount);
    count.setAttribute('data-rows', n);
    if (view.attrsOmitted) add(bar, el('span', 'view-note', 'attributes of ' + view.attrsOmitted + ' spans left out'));
    add(bar, el('span', 'env', 'duration ' + fmtNs(view.durationNs)));
    if (failing.length) {
      var nb = add(bar, el('button', 'next-failure', 'Next failure (' + failing.length + ')'));
      nb.addEventListener('click', function () { self.nextFailure(); });
    }
    add(bar, el('button', 'expand-all', 'Expand all')).addEventListener('click', function () {
      self.collapsed.fill(0); self.relayout();
    });
    add(bar, el('button', 'collapse-all', 'Collapse all')).addEventListener('click', function () {
      for (var k = 0; k < n; k++) self.collapsed[k] = self.end[k] > k + 1 ? 1 : 0;
      self.relayout();
    });
    /* find: spans whose name, service, id or an attribute key or value
     * contains the text (case-insensitive); the matches and their
     * ancestors stay visible, Enter goes to the next match */
    var search = add(bar, el('input', 'span-search'));
    search.type = 'search';
    search.placeholder = 'find spans (name, service, id, attribute)';
    var found = this.foundLabel = add(bar, el('span', 'search-count'));
    var queued = false;
    search.addEventListener('input', function () {
      if (queued) return;
      queued = true;
      requestAnimationFrame(function () { queued = false; self.find(search.value); });
    });
    search.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter') { ev.preventDefault(); self.nextMatch(); }
    });
    void found;
    var legend = add(bar, el('div', 'legend'));
    svcIndex.forEach(function (k, sv) {
      var it = add(legend, el('span', 'legend-item'));
      var sw = add(it, el('span', 'swatch'));
      sw.style.background = self.colors[sv];
      add(it, el('span', null, (S[sv] || '(no service)') + ' (' + svcCount[k] + ')'));
      it.setAttribute('data-service', S[sv] || '');
    });

    var grid = add(box, el('div', 'wf-grid'));
    var axis = add(grid, el('div', 'time-axis'));
    for (var k = 0; k <= 4; k++) {
      var tick = add(axis, el('span', 'time-tick', fmtNs(this.total * k / 4)));
      tick.style.left = (k * 25) + '%';
    }
    this.scroller = add(box, el('div', 'wf-scroller'));
    this.scroller.style.height = Math.max(ROW_H, Math.min(n * ROW_H, MAX_SCROLLER_H)) + 'px';
    this.spacer = add(this.scroller, el('div', 'wf-spacer'));
    var pending = false;
    this.scroller.addEventListener('scroll', function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; self.render(); });
    });
    this.spacer.addEventListener('click', function (ev) {
      var rowEl = ev.target.closest('.span-row');
      if (!rowEl) return;
      var idx = Number(rowEl.getAttribute('data-row-index'));
      if (ev.target.classList.contains('toggle') && self.end[idx] > idx + 1) {
        self.collapsed[idx] ^= 1;
        self.relayout();
        return;
      }
      self.select(idx);
    });
    this.relayout();
  }

  /* Mark the spans matching q: one pass over the string table, one over
   * the spans and their attribute references. O(strings + spans + attributes). */
  Waterfall.prototype.find = function (q) {
    q = (q || '').trim().toLowerCase();
    var n = this.rows.length, S = this.S, rows = this.rows;
    if (!q) {
      this.matches = null;
      this.keep = null;
      this.foundLabel.textContent = '';
      this.relayout();
      return;
    }
    var hit = new Uint8Array(S.length);
    for (var k = 0; k < S.length; k++)
      if (typeof S[k] === 'string' && S[k].toLowerCase().indexOf(q) >= 0) hit[k] = 1;
    var match = new Uint8Array(n), keep = new Uint8Array(n), list = [];
    for (var i = 0; i < n; i++) {
      var r = rows[i], m = hit[r[C_NAME]] || hit[r[C_SVC]] || String(r[C_ID]).indexOf(q) >= 0;
      var at = r[C_ATTRS];
      for (var a = 0; !m && at && a < at.length; a++) m = hit[at[a]];
      if (!m) continue;
      match[i] = 1;
      list.push(i);
      for (var p = i; p >= 0 && !keep[p]; p = this.parent[p]) keep[p] = 1;
    }
    this.matches = match;
    this.keep = keep;
    this.matchList = list;
    this.matchCursor = -1;
    this.foundLabel.textContent = list.length + (list.length === 1 ? ' match' : ' matches');
    this.foundLabel.setAttribute('data-matches', list.length);
    this.scroller.scrollTop = 0;
    this.relayout();
  };

  Waterfall.prototype.nextMatch = function () {
    if (!this.matchList || !this.matchList.length) return;
    this.matchCursor = (this.matchCursor + 1) % this.matchList.length;
    this.reveal(this.matchList[this.matchCursor]);
  };

  /* The visible row list: depth-first, skipping collapsed subtrees (while
   * searching: the matches and their ancestors). O(n). */
  Waterfall.prototype.relayout = function () {
    var n = this.rows.length, v = this.visible, c = this.collapsed, end = this.end, m = 0, keep = this.keep;
    for (var i = 0; i < n;) {
      if (keep) {
        if (keep[i]) v[m++] = i;
        i++;
        continue;
      }
      v[m++] = i;
      i = c[i] ? end[i] : i + 1;
    }
    this.nVisible = m;
    this.spacer.style.height = (m * ROW_H) + 'px';
    this.render();
  };

  Waterfall.prototype.render = function () {
    var sc = this.scroller, h = sc.clientHeight || MAX_SCROLLER_H;
    var first = Math.max(0, Math.floor(sc.scrollTop / ROW_H) - MARGIN_ROWS);
    var last = Math.min(this.nVisible, Math.ceil((sc.scrollTop + h) / ROW_H) + MARGIN_ROWS);
    var frag = document.createDocumentFragment();
    for (var k = first; k < last; k++) frag.appendChild(this.rowEl(this.visible[k], k));
    this.spacer.textContent = '';
    this.spacer.appendChild(frag);
  };

  Waterfall.prototype.rowEl = function (i, pos) {
    var r = this.rows[i], S = this.S, flags = r[C_FLAGS] | 0;
    var cls = 'span-row';
    if (flags & F_FAILED) cls += ' failed';
    if (flags & F_ASSERTED) cls += ' asserted';
    if (flags & F_LINKED) cls += ' linked';
    if (r[C_STATUS] === 2) cls += ' status-error';
    if (this.matches && this.matches[i]) cls += ' match';
    if (i === this.selected) cls += ' selected';
    var row = el('div', cls);
    row.style.top = (pos * ROW_H) + 'px';
    row.setAttribute('data-row-index', i);
    row.setAttribute('data-span-id', r[C_ID]);
    row.setAttribute('data-service', S[r[C_SVC]] || '');
    var label = add(row, el('div', 'span-label'));
    label.style.paddingLeft = (4 + Math.min(this.depth[i], 40) * 14) + 'px';
    var hasKids = this.end[i] > i + 1;
    add(label, el('span', 'toggle', hasKids ? (this.collapsed[i] ? '▸' : '▾') : ''));
    var dot = add(label, el('span', 'svc-dot'));
    dot.style.background = this.colors[r[C_SVC]];
    var name = add(label, el('span', 'span-name', S[r[C_NAME]]));
    name.title = S[r[C_NAME]] + ' (' + (S[r[C_SVC]] || 'no service') + ')';
    if (flags & F_FAILED) add(label, el('span', 'fail-marker', '✘')).title = 'an assertion failed on this span';
    else if (flags & F_ASSERTED) add(label, el('span', 'ok-marker', '✔')).title = 'assertions passed on this span';
    if (flags & F_LINKED) add(label, el('span', 'linked-badge', 'linked')).title = 'from linked trace ' + S[r[C_TRACE]];
    if (r[C_STATUS] === 2)
      add(label, el('span', 'error-badge', 'error')).title = 'span status ERROR' + (r[C_MSG] >= 0 ? ': ' + S[r[C_MSG]] : '');
    if (hasKids && this.collapsed[i]) add(label, el('span', 'env', '+' + (this.end[i] - i - 1)));
    var track = add(row, el('div', 'span-track'));
    var b = add(track, el('div', 'span-bar'));
    var left = Number(r[C_START]) / this.total * 100, width = Number(r[C_DUR]) / this.total * 100;
    left = Math.min(100, Math.max(0, left));
    width = Math.min(100 - left, Math.max(0, width));
    b.style.left = left + '%';
    b.style.width = width + '%';
    b.style.background = this.colors[r[C_SVC]];
    var d = add(track, el('span', 'span-dur', fmtNs(r[C_DUR])));
    if (left + width > 85) { d.style.right = (100 - left + 0.5) + '%'; } else { d.style.left = (left + width + 0.5) + '%'; }
    return row;
  };

  /* Expand the ancestors of row i, scroll it into the middle, select it. */
  Waterfall.prototype.reveal = function (i) {
    var changed = false;
    for (var p = this.parent[i]; p >= 0; p = this.parent[p])
      if (this.collapsed[p]) { this.collapsed[p] = 0; changed = true; }
    if (changed) this.relayout();
    var v = this.visible, lo = 0, hi = this.nVisible - 1;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (v[mid] < i) lo = mid + 1; else hi = mid; }
    var sc = this.scroller;
    sc.scrollTop = Math.max(0, lo * ROW_H - sc.clientHeight / 2 + ROW_H / 2);
    this.select(i);
    this.scroller.scrollIntoView({block: 'nearest'});
  };

  Waterfall.prototype.revealSpan = function (key) {
    var i = this.byKey.get(key);
    if (i !== undefined) this.reveal(i);
  };

  Waterfall.prototype.nextFailure = function () {
    if (!this.failing.length) return;
    this.failCursor = (this.failCursor + 1) % this.failing.length;
    this.reveal(this.failing[this.failCursor]);
  };

  Waterfall.prototype.select = function (i) {
    waterfalls.forEach(function (w) { if (w && w.selected >= 0) { w.selected = -1; } });
    this.selected = i;
    waterfalls.forEach(function (w) { if (w) w.render(); });
    showDetail(this, i);
  };

  function showDetail(wf, i) {
    var r = wf.rows[i], S = wf.S, flags = r[C_FLAGS] | 0;
    detail.textContent = '';
    detail.hidden = false;
    detail.setAttribute('data-span-id', r[C_ID]);
    detail.setAttribute('data-test-index', wf.ti);
    var close = add(detail, el('button', 'detail-close', 'Close'));
    close.addEventListener('click', function () { detail.hidden = true; });
    add(detail, el('h3', 'detail-name', S[r[C_NAME]]));
    var tbl = add(detail, el('table', 'detail-fields'));
    function field(k, v) {
      var tr = add(tbl, el('tr'));
      add(tr, el('td', 'field', k));
      add(tr, el('td', 'mono', v));
      return tr;
    }
    field('span id', r[C_ID]);
    field('trace id', S[r[C_TRACE]] + (flags & F_LINKED ? ' (linked trace, not the test\'s ' + wf.view.traceId + ')' : ''));
    var p = wf.parent[i];
    field('parent', p >= 0 ? '#' + wf.rows[p][C_ID] + ' ' + S[wf.rows[p][C_NAME]] :
      flags & F_ORPHAN ? '(parent not in the trace)' : '(root)');
    field('service', S[r[C_SVC]] || '');
    field('kind', KINDS[r[C_KIND]] || String(r[C_KIND]));
    field('status', (STATUSES[r[C_STATUS]] || String(r[C_STATUS])) + (r[C_MSG] >= 0 ? ': ' + S[r[C_MSG]] : ''));
    field('start', '+' + fmtNs(r[C_START]));
    field('duration', fmtNs(r[C_DUR]));
    field('events', r[C_EVENTS]);
    field('links', r[C_LINKS]);

    var list = wf.asserts.get(S[r[C_TRACE]] + '/' + r[C_ID]) || [];
    add(detail, el('h3', null, 'Assertions on this span (' + list.length + ')'));
    if (!list.length) add(detail, el('div', 'view-note', 'no assertion selected this span'));
    list.forEach(function (a) {
      var d = add(detail, el('div', 'span-assertion ' + (a.r.passed ? 'passed' : 'failed')));
      add(d, el('div', 'env', a.spec));
      add(d, el('code', 'assertion-text', (a.r.passed ? '✔ ' : '✘ ') + a.assertion));
      var o = add(d, el('div', 'mono'));
      add(o, el('span', null, 'observed: '));
      add(o, el('span', 'observed', a.r.error ? 'error: ' + a.r.error : a.r.observed === null ? '(none)' : a.r.observed));
      if (a.r.expected !== undefined) add(d, el('div', 'mono expected', 'expected: ' + a.r.expected));
    });

    add(detail, el('h3', null, 'Attributes'));
    var attrs = r[C_ATTRS];
    if (!Array.isArray(attrs)) {
      add(detail, el('div', 'view-note', flags & F_NO_ATTRS ?
        'attributes left out of this view to keep the report within its size bound' : 'none'));
    } else {
      if (!attrs.length) add(detail, el('div', 'view-note', 'none'));
      var at = add(detail, el('table', 'attributes'));
      for (var k = 0; k + 1 < attrs.length; k += 2) {
        var tr = add(at, el('tr', 'attr-row'));
        add(tr, el('td', 'attr-key mono', S[attrs[k]]));
        add(tr, el('td', 'attr-value mono', S[attrs[k + 1]]));
      }
    }
  }

  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') detail.hidden = true;
  });

  if (data.campaign) renderCampaign();
  if (data.campaign && data.run && (data.run.tests || []).length) {
    /* a campaign's tests are examples: the first failing run of each row */
    var eh = add(app, el('h2', 'examples-heading', 'Example failing runs'));
    eh.title = 'the first failing run of each test and environment, with its trace';
    add(app, el('p', 'env', 'The first run that did not pass in each row above, with its trace.'));
  }
  if (data.run) (data.run.tests || []).forEach(renderTest);
  window.tbtReport = {renderMs: performance.now() - t0, waterfalls: waterfalls.length};
  document.body.setAttribute('data-ready', '1');
})();
