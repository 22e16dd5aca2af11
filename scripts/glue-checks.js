
// --- Appended by scripts/build-npm.sh: argument checks in front of wasm-bindgen's copies into
// WebAssembly memory. Its release glue copies whatever it is given: a number where a string
// belongs made the module read out of bounds (a trap), an ArrayBuffer where bytes belong read
// as empty, and 2**32 + 2 as an offset read as 2. These answer a TypeError or RangeError instead.
function edgesketchKind(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return Object.prototype.toString.call(value).slice(8, -1);
  return typeof value;
}

/** A typed array of another realm (an iframe's) fails `instanceof` but carries the tag. */
function edgesketchTagged(value, tag) {
  return Object.prototype.toString.call(value) === `[object ${tag}]`;
}

function passStringToWasm0(arg, malloc, realloc) {
  if (typeof arg !== 'string') throw new TypeError(`expected a string, got ${edgesketchKind(arg)}`);
  return passStringToWasm0Unchecked(arg, malloc, realloc);
}

function passArray8ToWasm0(arg, malloc) {
  if (!(arg instanceof Uint8Array || edgesketchTagged(arg, 'Uint8Array'))) throw new TypeError(`expected a Uint8Array, got ${edgesketchKind(arg)}`);
  return passArray8ToWasm0Unchecked(arg, malloc);
}

/** `arg` if it is a `Type` (`tag` names it); for a plain array, a copy (read once: a getter
 * cannot answer the check one value and the copy another) whose every element
 * `check(value, index)` accepts. */
function edgesketchArray(arg, Type, tag, expected, check) {
  if (arg instanceof Type || edgesketchTagged(arg, tag)) return arg;
  if (!Array.isArray(arg)) throw new TypeError(`expected a ${tag} or an array of ${expected}, got ${edgesketchKind(arg)}`);
  const copy = Array.from(arg);
  for (let i = 0; i < copy.length; i++) check(copy[i], i);
  return copy;
}

function passArray32ToWasm0(arg, malloc) {
  arg = edgesketchArray(arg, Uint32Array, 'Uint32Array', 'offsets', (v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RangeError(`offset ${i} is ${String(v)}: offsets are whole numbers from 0 to 2^32 - 1`);
    }
  });
  return passArray32ToWasm0Unchecked(arg, malloc);
}

function passArray64ToWasm0(arg, malloc) {
  arg = edgesketchArray(arg, BigUint64Array, 'BigUint64Array', 'bigints', (v, i) => {
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) {
      throw new RangeError(`hash ${i} is ${String(v)}: hashes are bigints from 0 to 2^64 - 1`);
    }
  });
  return passArray64ToWasm0Unchecked(arg, malloc);
}

function passArrayF64ToWasm0(arg, malloc) {
  arg = edgesketchArray(arg, Float64Array, 'Float64Array', 'numbers', (v, i) => {
    if (typeof v !== 'number') throw new TypeError(`value ${i} is ${edgesketchKind(v)}, not a number`);
  });
  return passArrayF64ToWasm0Unchecked(arg, malloc);
}

function edgesketchThrown(message) {
  if (message === 'null pointer passed to rust') {
    return new Error('this edgesketch object was freed (by free(), or at the end of its `using` block) and cannot be used');
  }
  if (message.startsWith('recursive use of an object detected')) {
    return new Error('an edgesketch object cannot be passed to its own method (merging it with itself, say): pass a copy, fromBytes(x.toBytes()). (Or the object was in use when the module trapped, out of memory say, and cannot be used again.)');
  }
  return new Error(message);
}

/** A number argument, checked and converted before the glue reads the object's pointer (see
 * scripts/glue-numbers.mjs): a number, or null/undefined where optional, or a Date where the
 * parameter is in milliseconds. */
function edgesketchNumber(value, name, optional, ms) {
  if (typeof value === 'number') return value;
  if (value == null && optional) return value;
  if (ms && (value instanceof Date || edgesketchTagged(value, 'Date'))) return value.getTime();
  throw new TypeError(`${name} must be a number${ms ? ' (milliseconds) or a Date' : ''}, got ${edgesketchKind(value)}${typeof value === 'string' ? ` (${JSON.stringify(value.slice(0, 40))})` : ''}`);
}

function edgesketchBigInt(value, name, optional) {
  if (typeof value === 'bigint') return value;
  if (value == null && optional) return value;
  throw new TypeError(`${name} must be a bigint, got ${edgesketchKind(value)}`);
}

/** What the web glue's `wasm` is before `init()` or `initSync()` (the slim entry's classes can
 * be called that early): every use throws this. */
function edgesketchNotLoaded() {
  const fail = () => {
    throw new Error("edgesketch: the WebAssembly module is not loaded yet: with 'edgesketch/slim', call `await init()` or `initSync({ module })` first");
  };
  return new Proxy({}, { get: fail, set: fail, has: fail });
}
