// Builds the self-contained Redoc page (no CDN) from the bundled contract into dist/docs/index.html.
import { buildDocs } from '../src/docs.js';

const path = await buildDocs({ force: process.argv.includes('--force') });
console.log(`Docs written to ${path}`);
