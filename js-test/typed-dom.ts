// With the dom lib, the slim loaders take what browsers hand them: a URL, a Response, a
// compiled WebAssembly.Module.
import { init, initSync } from 'edgesketch/slim';
import { createClient } from 'edgesketch';

export async function loadInBrowser(module: WebAssembly.Module): Promise<void> {
  await init({ module_or_path: new URL('/edgesketch.wasm', 'https://example.com') });
  await init({ module_or_path: fetch('/edgesketch.wasm') });
  initSync({ module });
}

// The page's localStorage is a storage for the client's unsent envelopes.
createClient({ endpoint: 'https://stats.example.com/v1/ingest', storage: localStorage });
