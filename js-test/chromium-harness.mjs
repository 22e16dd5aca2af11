// What the browser tests share: Debian's Chromium launched headless as the machine requires, and a
// static file answer for their local servers.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';

const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.html': 'text/html' };

/** Launches headless Chromium (CHROMIUM, else /usr/bin/chromium) through playwright-core's `chromium`. */
export function launchChromium(chromium) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Answers with `file` and its content type, or 404 if it cannot be read. */
export function sendFile(res, file) {
  try {
    const body = readFileSync(file);
    res.setHeader('content-type', types[extname(file)] ?? 'application/octet-stream');
    res.end(body);
  } catch {
    res.statusCode = 404;
    res.end();
  }
}
