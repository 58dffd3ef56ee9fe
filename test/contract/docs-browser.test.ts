// The built docs page in a real browser with no network: served as `npm start` serves it (under its policy), it
// loads without a console error or a failed request, asks nothing of any other host, has a favicon, and its
// sidebar links open the page itself in a new tab.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDocs } from '../../src/docs.js';
import { findChromium, launchChromium, openPage, type Chromium, type Page } from '../support/chromium.js';
import { startTestServer, type TestServer } from '../support/server.js';

const chromiumPath = findChromium();
// As the PgBouncer tests: skipped, loudly and by name, where Chromium is missing; .ci/run installs it.
const missing = 'chromium missing: install it (apt-get install chromium), or set CHROMIUM to a Chromium or Chrome';
if (!chromiumPath) console.warn(`${missing}; the docs page's browser check is SKIPPED.`);
const suite = chromiumPath ? describe : describe.skip;

let browser: Chromium;
let server: TestServer;

/** The docs page at `url`, in a new tab, once Redoc has rendered it and the network has gone quiet. */
async function openDocs(url: string): Promise<Page> {
  const page = await openPage(browser, url, { origin: server.baseUrl });
  // Hydrated (React's root is attached and the sidebar is there), then idle twice, so that the effects that run
  // after hydration (the sidebar's logo is one) have asked for what they need.
  await page.until('Redoc did not render', () =>
    page.evaluate<boolean>(
      `!!document.querySelector('.menu-content a') && Object.keys(document.getElementById('redoc')).some((key) => key.startsWith('__reactContainer'))`,
    ),
  );
  await page.evaluate(
    `new Promise((resolve) => requestIdleCallback(() => requestIdleCallback(resolve, { timeout: 2000 }), { timeout: 2000 }))`,
  );
  await page.settle();
  return page;
}

suite(chromiumPath ? 'the docs page in Chromium, offline' : missing, () => {
  beforeAll(async () => {
    const html = await readDocs();
    if (!html) throw new Error('The docs page cannot be built: run `npm run docs`.');
    server = await startTestServer({ docsHtml: async () => html });
    browser = await launchChromium(chromiumPath!);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads under its policy with no console error, no failed request and nothing fetched from elsewhere', async () => {
    const page = await openDocs(`${server.baseUrl}/docs`);
    try {
      expect(page.problems).toEqual([]);
      expect(await page.evaluate<string>('document.title')).toBe('Staffroom API');
      // The page drew everything it shows from itself, the Redocly attribution included.
      const images = await page.evaluate<string[]>(`[...document.images].map((image) => image.currentSrc || image.src)`);
      expect(images.filter((src) => !src.startsWith('data:') && !src.startsWith(server.baseUrl))).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('has a favicon that loads under the policy', async () => {
    const page = await openDocs(`${server.baseUrl}/docs`);
    try {
      const icon = await page.evaluate<{ href: string; width: number }>(`(async () => {
        const link = document.querySelector('link[rel~="icon"]');
        if (!link) return { href: '', width: 0 };
        const image = new Image();
        image.src = link.href;
        await image.decode();
        return { href: link.href, width: image.naturalWidth };
      })()`);
      expect(icon.href).toMatch(/^data:image\/svg\+xml,/);
      expect(icon.width).toBeGreaterThan(0);
      expect(page.problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('has sidebar links that open the page itself, at their section, in a new tab', async () => {
    const page = await openDocs(`${server.baseUrl}/docs`);
    let links: { text: string; href: string }[];
    try {
      links = await page.evaluate(
        `[...document.querySelectorAll('.menu-content a:not([target="_blank"])')].map((a) => ({ text: a.textContent.trim(), href: a.href }))`,
      );
    } finally {
      await page.close();
    }
    expect(links.length).toBeGreaterThan(10);
    // Each resolves to this page (a new tab loads /docs, not a path the server answers 404).
    expect(links.filter(({ href }) => new URL(href).pathname !== '/docs')).toEqual([]);
    const tasks = links.find(({ text }) => text === 'Tasks');
    expect(tasks?.href).toBe(`${server.baseUrl}/docs#/tasks`);

    const tab = await openDocs(tasks!.href);
    try {
      expect(tab.problems).toEqual([]);
      // Scrolled to the section: its heading is in the upper half of the window.
      const shown = await tab.evaluate<{ headings: string[]; notFound: boolean }>(`({
        headings: [...document.querySelectorAll('h1, h2')]
          .filter((h) => h.getBoundingClientRect().top >= 0 && h.getBoundingClientRect().top < innerHeight / 2)
          .map((h) => h.textContent.trim()),
        notFound: document.body.innerText.includes('No page at this address'),
      })`);
      expect(shown.notFound).toBe(false);
      expect(shown.headings).toContain('Tasks');
    } finally {
      await tab.close();
    }
  });
});
