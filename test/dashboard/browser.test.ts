/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core.
 *
 * Screenshots are compared with the references in test/dashboard/__screenshots__/. After an
 * intended change of the page, update them (and docs/dashboard.png) with:
 *
 *   UPDATE_SCREENSHOTS=1 npx vitest run test/dashboard
 *
 * Without /usr/bin/chromium these tests are skipped with a loud warning; under CI=true they fail.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng, difference } from './png.js';
import { type Service, startService, TOKEN } from './service.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Same pixels on every machine: no LCD subpixel tricks, one colour profile.
  '--font-render-hinting=none',
  '--disable-lcd-text',
  '--force-color-profile=srgb',
];
const SHOTS = fileURLToPath(new URL('./__screenshots__/', import.meta.url));
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const ACTUAL = fileURLToPath(new URL('../../.tmp/', import.meta.url));
const UPDATE = process.env.UPDATE_SCREENSHOTS === '1';
/**
 * Share of pixels allowed to differ (by more than 32 of 255 in a channel): 520 of 1000×1040, room for a few
 * glyphs rasterised differently, less than one state badge changing colour. Runs here differ by 0 pixels.
 */
const TOLERANCE = 0.0005;

function chromiumPresent(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const what = `Chromium is not installed at ${CHROMIUM}`;
  if (process.env.CI === 'true')
    throw new Error(`${what}: CI=true requires it (apt-get install -y chromium)`);
  console.warn(
    `\n!!! SKIPPING the dashboard browser tests: ${what}.\n!!! Install it (apt-get install -y --no-install-recommends chromium); under CI=true they fail instead.\n`,
  );
  return false;
}

/**
 * Runs in the page: what a basic accessibility check looks at. Contrast is WCAG 2's ratio of
 * relative luminances; every badge colour (each state, on or off) is measured, present or not.
 */
const ACCESSIBILITY = `(() => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const unlabelled = [...document.querySelectorAll('input')].filter((i) => i.labels.length === 0).length;
  const unnamed = [...document.querySelectorAll('button')].filter((b) => !b.textContent.trim()).length;
  const images = [...document.querySelectorAll('svg[role=img]')].filter((s) => !s.getAttribute('aria-label')).length;
  const probe = document.createElement('span');
  document.body.append(probe);
  const states = {};
  for (const s of ['closed', 'open', 'half-open', 'isolated', 'disabled', 'healthy', 'degraded', 'unhealthy', 'on', 'off', 'unknown']) {
    probe.className = 'badge s-' + s;
    const style = getComputedStyle(probe);
    states[s] = contrast(style.color, style.backgroundColor);
  }
  probe.remove();
  const text = {};
  const card = getComputedStyle(document.querySelector('.card')).backgroundColor;
  for (const sel of ['.mu', 'h1', 'td', '.lg', 'dt']) {
    const e = document.querySelector(sel);
    if (e) text[sel] = contrast(getComputedStyle(e).color, sel === 'dt' || sel === '.lg' ? card : 'rgb(255, 255, 255)');
  }
  return { unlabelled, unnamed, images, states, text, lang: document.documentElement.lang };
})()`;

async function compare(page: Page, name: string): Promise<void> {
  const png = await page.screenshot({ fullPage: true, animations: 'disabled', caret: 'hide' });
  const reference = `${SHOTS}${name}.png`;
  if (UPDATE) {
    mkdirSync(SHOTS, { recursive: true });
    writeFileSync(reference, png);
    if (name === 'open') {
      // The README's picture: the top of the page, small enough to keep in the repository.
      mkdirSync(DOCS, { recursive: true });
      const top = await page.screenshot({
        clip: { x: 0, y: 0, width: 1000, height: 600 },
        animations: 'disabled',
        caret: 'hide',
      });
      writeFileSync(`${DOCS}dashboard.png`, top);
    }
    return;
  }
  expect(
    existsSync(reference),
    `no reference ${reference}: run UPDATE_SCREENSHOTS=1 npx vitest run test/dashboard`,
  ).toBe(true);
  const diff = difference(decodePng(png), decodePng(readFileSync(reference)));
  console.log(`screenshot ${name}: ${(diff.ratio * 100).toFixed(3)} % of pixels differ from the reference`);
  if (diff.sizeDiffers || diff.ratio > TOLERANCE) {
    mkdirSync(ACTUAL, { recursive: true });
    writeFileSync(`${ACTUAL}dashboard-${name}.actual.png`, png);
  }
  expect(diff.sizeDiffers, `screenshot ${name} changed size (actual in .tmp/)`).toBe(false);
  expect(diff.ratio, `screenshot ${name} differs (actual in .tmp/)`).toBeLessThanOrEqual(TOLERANCE);
}

describe.runIf(chromiumPresent())('dashboard in Chromium', () => {
  let browser: Browser;
  let service: Service;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    [browser, service] = await Promise.all([
      chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true }),
      startService(),
    ]);
    page = await browser.newPage({ viewport: { width: 1000, height: 700 }, deviceScaleFactor: 1 });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
  });

  it('loads with no console error and shows every part of the service', async () => {
    const response = await page.goto(service.url);
    expect(response?.status()).toBe(200);
    await page.locator('#conn', { hasText: 'Live' }).waitFor({ timeout: 5_000 });
    expect(await page.locator('#breakers h3').allTextContents()).toEqual(['orders-db', 'search']);
    expect(await page.locator('#breakers .badge').allTextContents()).toEqual(['closed', 'closed']);
    expect(await page.locator('#limits tbody th').allTextContents()).toEqual(['orders-pool']);
    expect(await page.locator('#health tbody th').allTextContents()).toEqual([
      'orders-db',
      'search',
      'orders-pool',
      'disk',
    ]);
    expect(await page.locator('#switches tbody th').allTextContents()).toEqual(['chaos']);
    expect(await page.locator('#chaos tbody td').allTextContents()).toEqual(['chaos']);
    expect(await page.locator('#breakers svg polyline').count()).toBe(6);
    expect(errors).toEqual([]);
  });

  it('matches the closed-state screenshot', async () => {
    await compare(page, 'closed');
  });

  it('shows a breaker that opens within 1 s, without a reload', async () => {
    const started = performance.now();
    await service.trip();
    expect(service.orders.state).toBe('open');
    const badge = page.locator('#breakers article').first().locator('.badge');
    await badge.filter({ hasText: /^open$/ }).waitFor({ timeout: 1_000 });
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(page.locator('#breakers article').first().locator('dd').last().textContent()).resolves.toBe(
      'in 30.0 s',
    );
    await page.locator('#overall', { hasText: 'unhealthy' }).waitFor({ timeout: 1_000 });
    expect(errors).toEqual([]);
  });

  it('matches the open-state screenshot', async () => {
    await compare(page, 'open');
  });

  it('refuses a control without the token (403) and obeys one with it, from the keyboard', async () => {
    const refused = await page.evaluate(async () => {
      const r = await fetch('breakers/search/isolate', { method: 'POST' });
      return r.status;
    });
    expect(refused).toBe(403);
    // Chromium logs every refused fetch as a console error: that one was asked for.
    expect(errors.splice(0)).toEqual([expect.stringContaining('403 (Forbidden)')]);
    const wrong = await fetch(`${service.url}breakers/search/isolate`, {
      method: 'POST',
      headers: { 'x-breakwater-token': 'not-the-token-at-all' },
    });
    expect(wrong.status).toBe(403);
    const viaGet = await fetch(`${service.url}breakers/search/isolate`, {
      headers: { 'x-breakwater-token': TOKEN },
    });
    expect(viaGet.status).toBe(405);
    expect(service.search.state).toBe('closed');

    // Keyboard only: type the token, then Tab to the search breaker's Isolate button and press Enter.
    await page.locator('#token').focus();
    await page.keyboard.type(TOKEN);
    const target = page.locator('button[data-path="breakers/search/isolate"]');
    for (let i = 0; i < 20; i++) {
      await page.keyboard.press('Tab');
      if (await target.evaluate((b) => b === b.ownerDocument.activeElement)) break;
    }
    await expect(target.evaluate((b) => b === b.ownerDocument.activeElement)).resolves.toBe(true);
    await page.keyboard.press('Enter');
    await page.locator('#breakers article').nth(1).locator('.badge', { hasText: 'isolated' }).waitFor({
      timeout: 1_000,
    });
    expect(service.search.state).toBe('isolated');
    await expect(page.locator('#msg').textContent()).resolves.toBe('Done: Isolate (isolated)');

    // The chaos switch, too.
    await page.locator('button[data-path="flags/chaos/on"]').click();
    await page.locator('#switches tbody .badge', { hasText: 'on' }).waitFor({ timeout: 1_000 });
    await page.locator('button[data-path="breakers/search/reset"]').click();
    await page.locator('#breakers article').nth(1).locator('.badge', { hasText: 'closed' }).waitFor({
      timeout: 1_000,
    });
    expect(errors).toEqual([]);
  });

  it('passes a basic accessibility check: labels, names, contrast of every state colour', async () => {
    const report = (await page.evaluate(ACCESSIBILITY)) as {
      unlabelled: number;
      unnamed: number;
      images: number;
      states: Record<string, number>;
      text: Record<string, number>;
      lang: string;
    };
    expect(report.unlabelled).toBe(0);
    expect(report.unnamed).toBe(0);
    expect(report.images).toBe(0);
    expect(report.lang).toBe('en');
    for (const [state, ratio] of Object.entries(report.states)) {
      expect(ratio, `contrast of the ${state} badge`).toBeGreaterThanOrEqual(4.5);
    }
    for (const [selector, ratio] of Object.entries(report.text)) {
      // Measured on the background each sits on: the page's white, or a card's grey.
      expect(ratio, `contrast of ${selector}`).toBeGreaterThanOrEqual(4.5);
    }
  });

  it('fits a narrow window without horizontal scrolling', async () => {
    await page.setViewportSize({ width: 360, height: 700 });
    const overflow = (await page.evaluate(
      'document.documentElement.scrollWidth - window.innerWidth',
    )) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1000, height: 700 });
  });

  it('drops the stream when the page goes, and then holds no timer', async () => {
    expect(service.handler.clients).toBe(1);
    expect(service.handler.watching).toBe(true);
    await page.close();
    for (let i = 0; i < 50 && service.handler.clients !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(service.handler.clients).toBe(0);
    expect(service.handler.watching).toBe(false);
  });
});
