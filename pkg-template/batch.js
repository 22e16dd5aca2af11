// `addMany(strings)` for the string-keyed classes, done on the JS side: the strings are packed
// into one reused buffer (ASCII copied directly, anything else through TextEncoder.encodeInto)
// and cross into WebAssembly once, through `addBytes(data, ends)`. wasm-bindgen's own array of
// strings converts element by element and cost more per item than single calls.
const encoder = new TextEncoder();
let data = new Uint8Array(1 << 16);
let ends = new Uint32Array(1 << 12);

function pack(strings) {
  if (!Array.isArray(strings)) throw new TypeError('addMany takes an array of strings');
  if (ends.length < strings.length) ends = new Uint32Array(Math.max(strings.length, ends.length * 2));
  let at = 0;
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i];
    if (typeof s !== 'string') throw new TypeError(`addMany: item ${i} is not a string`);
    // Worst case 3 bytes per UTF-16 code unit.
    if (data.length < at + s.length * 3) {
      const bigger = new Uint8Array(Math.max(data.length * 2, at + s.length * 3));
      bigger.set(data.subarray(0, at));
      data = bigger;
    }
    let j = 0;
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c > 0x7f) break;
      data[at + j] = c;
    }
    if (j === s.length) {
      at += j;
    } else {
      at += encoder.encodeInto(s, data.subarray(at)).written;
    }
    ends[i] = at;
  }
  return [data.subarray(0, at), ends.subarray(0, strings.length)];
}

/** Replaces `addMany` of the classes that take string items with the packed version. */
export function withFastBatches(wasm) {
  for (const name of ['HyperLogLog']) {
    const proto = wasm[name]?.prototype;
    if (!proto || typeof proto.addBytes !== 'function') continue;
    Object.defineProperty(proto, 'addMany', {
      configurable: true,
      writable: true,
      value: function addMany(strings) {
        const [bytes, offsets] = pack(strings);
        this.addBytes(bytes, offsets);
      },
    });
  }
  return wasm;
}
