#!/usr/bin/env node
/*
 * check_report.js - open a tbt HTML report in Debian's chromium (driven by
 * playwright-core, which bundles no browser) and check what a person sees.
 *
 *   node check_report.js --report R.html --screenshot OUT.png [checks...]
 *
 * Checks (each optional):
 *   --spans N            the first waterfall draws exactly N .span-bar
 *   --failed-span ID     the highlighted (.span-row.failed) row is ID, the one
 *                        the failing assertion names; clicking it opens
 *                        #span-detail with the assertion and its observed value
 *   --observed TEXT      ... the observed value shown for that assertion
 *   --attr KEY           ... an attribute the detail panel lists
 *   --linked-span ID     row ID carries the linked-trace badge
 *   --large N            N spans announced, far fewer rows in the DOM; the
 *                        bottom of the scroller shows the last span
 *   --campaign           the campaign section draws its histograms
 *   --text TEXT          the page shows TEXT (as text, not markup)
 *   --search TEXT        typing TEXT in the first waterfall's find box keeps
 *                        exactly the spans whose name, service, id or an
 *                        attribute contains it (counted from the embedded
 *                        view), each with its ancestors; Enter opens the
 *                        first match in the detail panel
 *
 * Any page error, console error or network request fails the check. No
 * fixed sleeps: every wait is for a selector or a condition. Exit 0 when
 * every check passed, 1 otherwise (each failure printed).
 */
'use strict';
const { chromium } = require('playwright-core');
const path = require('path');

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (!k.startsWith('--')) throw new Error('unexpected argument ' + k);
    const name = k.slice(2);
    if (name === 'campaign') { o.campaign = true; continue; }
    if (i + 1 >= argv.length) throw new Error(k + ' needs a value');
    o[name] = argv[++i];
  }
  if (!o.report) throw new Error('--report is required');
  return o;
}

const failures = [];
function check(cond, what) {
  if (cond) console.log('ok   ' + what);
  else { console.log('FAIL ' + what); failures.push(what); }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const exe = process.env.CHROMIUM || '/usr/bin/chromium';
  const browser = await chromium.launch({
    executablePath: exe,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [], requests = [];
    page.on('pageerror', (e) => errors.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push('console error: ' + m.text()); });
    const url = 'file://' + path.resolve(o.report);
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (u === url) return route.continue();
      requests.push(u);
      return route.abort();
    });
    const t0 = Date.now();
    await page.goto(url, { waitUntil: 'load', timeout: 120000 });
    await page.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
    const loadMs = Date.now() - t0;
    const renderMs = await page.evaluate(() => window.tbtReport.renderMs);
    console.log(`load: ${loadMs} ms to ready (script ${renderMs.toFixed(0)} ms)`);

    if (o.spans !== undefined) {
      const want = Number(o.spans);
      const bars = await page.locator('section.test[data-test-index="0"] .span-bar').count();
      check(bars === want, `${want} span bars drawn (saw ${bars})`);
      const label = await page.locator('section.test[data-test-index="0"] .span-count').textContent();
      check(label.includes(`${want} spans`), `the toolbar says "${want} spans" ("${label}")`);
    }

    if (o['failed-span']) {
      const id = o['failed-span'];
      const failedRows = await page.locator('.span-row.failed').evaluateAll((els) => els.map((e) => e.dataset.spanId));
      check(failedRows.length === 1 && failedRows[0] === id, `the one highlighted row is #${id} (saw ${failedRows.join(',')})`);
      const named = await page.locator('tr.span-result.failed').evaluateAll((els) => els.map((e) => e.dataset.spanId));
      check(named.includes(id), `the failing assertion names #${id} (names ${named.join(',')})`);
      const row = page.locator(`.span-row.failed[data-span-id="${id}"]`);
      check(await row.locator('.fail-marker').isVisible(), 'the failed row shows its ✘ marker');
      const outline = await row.evaluate((e) => getComputedStyle(e).outlineStyle + ' ' + getComputedStyle(e).outlineColor);
      check(/solid rgb\(207, 34, 46\)/.test(outline), `the failed row has a red outline (${outline})`);
      await page.locator('button.next-failure').first().click();
      await page.waitForSelector(`#span-detail:not([hidden])[data-span-id="${id}"]`);
      check(true, '"Next failure" selects the failing span and opens its detail');
      await page.locator('#span-detail .detail-close').click();
      await page.waitForSelector('#span-detail[hidden]', { state: 'attached' });
      await row.click();
      await page.waitForSelector(`#span-detail:not([hidden])[data-span-id="${id}"]`);
      const panel = page.locator('#span-detail');
      const failedAssert = panel.locator('.span-assertion.failed');
      check(await failedAssert.count() === 1, 'the detail panel lists the failed assertion');
      if (o.observed) {
        const obs = await failedAssert.locator('.observed').textContent();
        check(obs === o.observed, `its observed value is "${o.observed}" (saw "${obs}")`);
      }
      if (o.attr) {
        const keys = await panel.locator('.attr-row .attr-key').allTextContents();
        check(keys.includes(o.attr), `the detail panel lists attribute ${o.attr} (${keys.length} attributes)`);
      }
    }

    if (o['linked-span']) {
      const id = o['linked-span'];
      const row = page.locator(`.span-row.linked[data-span-id="${id}"]`);
      check(await row.count() === 1, `#${id} is marked as a linked-trace span`);
      check(await row.locator('.linked-badge').isVisible(), 'the linked badge is visible');
      const unlinked = await page.locator('.span-row:not(.linked) .linked-badge').count();
      check(unlinked === 0, 'spans of the test\'s own trace carry no badge');
      await row.click();
      await page.waitForSelector(`#span-detail:not([hidden])[data-span-id="${id}"]`);
      const txt = await page.locator('#span-detail .detail-fields').textContent();
      check(txt.includes('linked trace'), 'the detail panel says the span is from a linked trace');
    }

    if (o.large) {
      const n = Number(o.large);
      const sec = page.locator('section.test[data-test-index="0"]');
      const label = sec.locator('.span-count');
      const announced = Number(await label.getAttribute('data-span-count'));
      const text = await label.textContent();
      check(announced === n && text.includes(`${n} spans`), `the toolbar says "${n} spans" ("${text}")`);
      const domRows = await sec.locator('.span-row').count();
      check(domRows > 0 && domRows < 200, `virtualised: ${domRows} rows in the DOM for ${n} spans`);
      const lastId = await page.evaluate(() => {
        const v = JSON.parse(document.getElementById('tbt-view-0').textContent);
        return { id: v.spans[v.spans.length - 1][0], index: v.spans.length - 1 };
      });
      const s0 = Date.now();
      await sec.locator('.wf-scroller').evaluate((e) => { e.scrollTop = e.scrollHeight; });
      const last = sec.locator(`.span-row[data-row-index="${lastId.index}"]`);
      await last.waitFor({ state: 'visible' });
      console.log(`scroll to the bottom: ${Date.now() - s0} ms`);
      check(await last.getAttribute('data-span-id') === lastId.id, `the bottom row is the last span #${lastId.id}`);
      const inView = await last.evaluate((e) => {
        const r = e.getBoundingClientRect(), s = e.closest('.wf-scroller').getBoundingClientRect();
        return r.top >= s.top - 1 && r.bottom <= s.bottom + 1;
      });
      check(inView, 'the last span is inside the scroller\'s window');
      await page.screenshot({ path: o.screenshot ? o.screenshot.replace(/\.png$/, '-bottom.png') : undefined });
      const c0 = Date.now();
      await sec.locator('.wf-scroller').evaluate((e) => { e.scrollTop = 0; });
      await sec.locator('.span-row[data-row-index="0"] .toggle').click();
      await sec.locator('.span-row').first().waitFor();
      await page.waitForFunction(() => document.querySelectorAll('section.test[data-test-index="0"] .span-row').length === 1);
      console.log(`collapse the root (${n - 1} spans hidden): ${Date.now() - c0} ms`);
      check(true, 'collapsing the root leaves one row');
      await sec.locator('.span-row[data-row-index="0"] .toggle').click();
      await page.waitForFunction(() => document.querySelectorAll('section.test[data-test-index="0"] .span-row').length > 1);
      check(true, 'expanding it again brings the rows back');
    }

    if (o.search) {
      const q = o.search;
      const sec = page.locator('section.test[data-test-index="0"]');
      const want = await page.evaluate((q) => {
        const v = JSON.parse(document.getElementById('tbt-view-0').textContent), S = v.strings;
        const has = (k) => typeof S[k] === 'string' && S[k].toLowerCase().includes(q.toLowerCase());
        const ids = [];
        for (const r of v.spans) {
          const at = Array.isArray(r[13]) ? r[13] : [];
          if (has(r[2]) || has(r[3]) || String(r[0]).includes(q.toLowerCase()) || at.some(has)) ids.push(r[0]);
        }
        return ids;
      }, q);
      const t0 = Date.now();
      await sec.locator('input.span-search').fill(q);
      await sec.locator(`.search-count[data-matches="${want.length}"]`).waitFor();
      console.log(`find "${q}": ${want.length} matches in ${Date.now() - t0} ms`);
      check(want.length > 0, `"${q}" matches ${want.length} spans of the view`);
      const shownMatches = await sec.locator('.span-row.match').evaluateAll((els) => els.map((e) => e.getAttribute('data-span-id')));
      check(shownMatches.length > 0 && shownMatches.every((id) => want.includes(id)),
        `the rows marked as matches (${shownMatches.length} in the DOM) are spans that contain "${q}"`);
      const others = await sec.locator('.span-row:not(.match)').count();
      const domRows = await sec.locator('.span-row').count();
      check(domRows <= want.length * 50 + 1, `besides the matches only their ancestors are listed (${others} of ${domRows})`);
      await sec.locator('input.span-search').press('Enter');
      await page.waitForSelector('#span-detail:not([hidden])');
      const opened = await page.locator('#span-detail').getAttribute('data-span-id');
      check(want.includes(opened), `Enter opens a matching span (#${opened})`);
      await sec.locator('input.span-search').fill('');
      await page.waitForFunction(() => !document.querySelector('section.test[data-test-index="0"] .span-row.match'));
      check(true, 'clearing the find box brings the whole tree back');
    }

    if (o.text) {
      const shown = await page.evaluate((t) => document.body.innerText.includes(t), o.text);
      check(shown, `the page shows the text ${JSON.stringify(o.text)}`);
    }

    if (o.campaign) {
      const rows = await page.locator('#campaign .campaign-row').count();
      check(rows >= 1, `the campaign section has ${rows} rows`);
      const bars = await page.locator('#campaign svg.hist-chart rect.hist-bar').count();
      check(bars > 0, `its histograms draw ${bars} bars`);
      const th = await page.locator('#campaign .threshold').count();
      check(th > 0, `its thresholds are listed (${th})`);
      const fs = await page.locator('#campaign .failing-spec').count();
      check(fs > 0, `its most frequent failures are listed (${fs})`);
    }

    if (o.screenshot) {
      await page.screenshot({ path: o.screenshot, fullPage: !o.large });
      console.log('screenshot: ' + o.screenshot);
    }
    check(errors.length === 0, 'no page or console errors' + (errors.length ? ': ' + errors.join('; ') : ''));
    check(requests.length === 0, 'no network request' + (requests.length ? ': ' + requests.join(', ') : ''));
  } finally {
    await browser.close();
  }
  if (failures.length) {
    console.log(`${failures.length} check(s) failed`);
    process.exit(1);
  }
}

main().catch((e) => { console.error('check_report: ' + (e && e.stack || e)); process.exit(1); });
