// The slim entry's loaders, typed by the runtime libs the project has: the dom lib
// (tsconfig.json) or @types/node alone (tsconfig.node.json). Both must accept this file.
import { init, initSync, HyperLogLog } from 'edgesketch/slim';
import type { InitInput, SyncInitInput } from 'edgesketch/slim';

export async function loadFrom(url: string, bytes: Uint8Array): Promise<void> {
  const input: InitInput = url;
  await init({ module_or_path: input });
  const sync: SyncInitInput = bytes;
  initSync({ module: sync });
  initSync({ module: bytes.buffer as ArrayBuffer });
  const h = new HyperLogLog({ precision: 12 });
  h.add('ada');
}
