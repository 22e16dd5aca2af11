// String items into WebAssembly without wasm-bindgen's per-string malloc, copy and free: the JS
// side writes each item's UTF-8 straight into a scratch buffer inside the module's memory (see
// wasm/src/scratch.rs) and passes only its length. `add(string)` then costs what a call with
// numbers does, and `addMany(strings)` encodes the whole batch in place and crosses once.
const encoder = new TextEncoder();

/** The largest scratch buffer asked for: wasm32 memory ends at 4 GiB. */
const SCRATCH_MAX = 2 ** 32 - 2 ** 16;
/** A buffer grown past this (by a large batch) shrinks back to it at the next add that fits, so
 * the memory goes back to the module's allocator. */
const SCRATCH_KEEP = 2 ** 20;

/** Marks a module whose classes are set up already: two entries of the package that share one
 * module (the browser entry and `./slim`, say) must share one scratch buffer, or one's growth
 * leaves the other writing into freed memory. */
const FAST = Symbol.for('edgesketch.fastBatches');

/** The scratch buffer of one module instance; set up on first use (the slim entry inits late). */
function scratchOf(wasm) {
  let memory = null;
  let base = 0; // the buffer's address in memory
  let capacity = 0; // its length in bytes
  let bytes = new Uint8Array(0);
  let words = new Uint32Array(0);

  /** Makes room for `n` bytes and refreshes the views (growing memory detaches the old ones).
   * Throws a RangeError, changing nothing, if the module cannot allocate them. */
  function reserve(n) {
    if (n > capacity || memory === null || (capacity > SCRATCH_KEEP && n <= SCRATCH_KEEP)) {
      memory ??= wasm.__memory();
      if (!(n <= SCRATCH_MAX)) throw new RangeError(`edgesketch: ${n} bytes of string items at once is more than WebAssembly memory holds`);
      const grow = n > capacity || capacity === 0;
      const wanted = grow ? Math.min(Math.max(n, 2 * capacity, 4096), SCRATCH_MAX) : SCRATCH_KEEP;
      const at = grow ? wasm.__scratchReserve(wanted) : wasm.__scratchShrink(wanted);
      if (at === 0) throw new RangeError(`edgesketch: could not allocate ${wanted} bytes for string items (WebAssembly memory is full)`);
      if (at % 4 !== 0) throw new Error(`edgesketch: scratch buffer at ${at} is not 4-aligned`);
      base = at;
      capacity = wanted;
    } else if (bytes.byteLength !== 0) {
      return;
    }
    bytes = new Uint8Array(memory.buffer);
    words = new Uint32Array(memory.buffer);
  }

  /** Writes `s` as UTF-8 into `into` (a view of the whole memory) at address `p`; room for 3
   * bytes per code unit is reserved. Answers the bytes written. Arguments, not the closure's
   * variables: V8 keeps them in registers, which halved the cost of a batch. */
  function put(into, p, s) {
    const n = s.length;
    let j = 0;
    for (; j < n; j++) {
      const c = s.charCodeAt(j);
      if (c > 0x7f) break;
      into[p + j] = c;
    }
    if (j === n) return n;
    const rest = j === 0 ? s : s.slice(j);
    return j + encoder.encodeInto(rest, into.subarray(p + j, base + capacity)).written;
  }

  // While a batch is being written: an item getter that adds elsewhere would overwrite it.
  let writing = false;
  // Items in the batch written last.
  let written = 0;
  const busy = () => new Error('edgesketch: a string add ran while addMany was reading its items (from a getter?)');

  return {
    /** Items in the batch written last. */
    get count() {
      return written;
    },
    /** After a refusal: the next write reserves the buffer again (Rust hands back the same one
     * unless a trap lost it). */
    refused() {
      capacity = 0;
    },
    /** Writes one string; answers its length in bytes. */
    one(s) {
      if (writing) throw busy();
      reserve(3 * s.length);
      return put(bytes, base, s);
    },
    /** Writes a batch (its end offsets, then its bytes); answers the bytes' length. One pass:
     * room for ASCII is reserved up front and grown (the buffer keeps its contents) when an
     * item could overrun it; a bad item throws before anything crossed into WebAssembly. */
    many(strings, method) {
      if (writing) throw busy();
      writing = true;
      try {
        return this.write(strings, method);
      } finally {
        writing = false;
      }
    },
    write(strings, method) {
      if (!Array.isArray(strings)) throw new TypeError(`${method} takes an array of strings`);
      const count = strings.length;
      written = count;
      const head = 4 * count;
      reserve(head + 16 * count);
      let into = bytes;
      let ends = words;
      let start = base;
      let end = base + capacity;
      let at = start + head;
      for (let i = 0; i < count; i++) {
        const s = strings[i];
        if (typeof s !== 'string') throw new TypeError(`${method}: item ${i} is not a string`);
        // Memory grew while the item was read (a getter): the views are detached.
        if (into.length === 0) throw new Error(`edgesketch: WebAssembly memory grew while ${method} read item ${i} (from a getter?)`);
        if (at + 3 * s.length > end) {
          reserve(2 * (at - start + 3 * s.length));
          at += base - start;
          into = bytes;
          ends = words;
          start = base;
          end = base + capacity;
        }
        // The ASCII copy inlined here, the rest in `put`: a call per item cost as much again.
        const n = s.length;
        let j = 0;
        for (; j < n; j++) {
          const c = s.charCodeAt(j);
          if (c > 0x7f) break;
          into[at + j] = c;
        }
        at += j === n ? n : j + put(into, at + j, s.slice(j));
        ends[(start >>> 2) + i] = at - start - head;
      }
      return at - start - head;
    },
  };
}

/** Values a Quantiles object buffers before they cross into WebAssembly together (512 bytes). */
const QUANTILE_BUFFER = 256;
/** Above this count an add could overflow the sketch's u64 count: no buffering, so the error
 * comes from the `add` that causes it. */
const QUANTILE_COUNT_LIMIT = (1n << 64n) - 1n - BigInt(QUANTILE_BUFFER);

/** `Quantiles.add(value)` collects finite values in a small buffer of the object's own, applied
 * as one `addMany` when full and before any other method or getter of that object runs (or of a
 * Quantiles passed to one, as `merge` takes). So everything a call can observe, down to the bytes
 * of the float sum (the same additions in the same order), is what one-at-a-time adds give. A
 * non-finite value flushes and takes the plain path, which throws as before.
 *
 * Each buffer is a plain object `{ n, values }` on its sketch: V8 keeps `n` a small integer in the
 * object, so an add is a load, a store and a compare whichever sketch it goes to. Measured
 * alternatives (per add, DDSketch's `accept` ~42 ns in the same runs): the count in slot 0 of the
 * values (1.3x DDSketch's time); the sketch added to last keeping its count in a closure variable
 * (1.1x on one sketch, 1.5x alternating between two); one buffer shared by all sketches (230 ns
 * alternating). */
function withBufferedQuantiles(Quantiles) {
  const proto = Quantiles?.prototype;
  if (!proto || typeof proto.addMany !== 'function') return;
  const plainAdd = proto.add;
  const plainAddMany = proto.addMany;
  const plainCount = Object.getOwnPropertyDescriptor(proto, 'count').get;
  const flush = (q) => {
    const b = q.__buffer;
    if (b !== undefined && b.n > 0) {
      const n = b.n;
      b.n = 0;
      plainAddMany.call(q, b.values.subarray(0, n));
    }
  };
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor' || name === 'add') continue;
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (typeof d.value === 'function') {
      const plain = d.value;
      d.value = name === 'free'
        // Freed: what it had buffered goes with it.
        ? function free() {
          if (this.__buffer !== undefined) this.__buffer.n = 0;
          return plain.call(this);
        }
        : function (...args) {
          flush(this);
          for (const a of args) if (a instanceof Quantiles) flush(a);
          return plain.apply(this, args);
        };
    }
    if (d.get) {
      const plain = d.get;
      d.get = function () { flush(this); return plain.call(this); };
    }
    Object.defineProperty(proto, name, d);
  }
  if (typeof Symbol.dispose === 'symbol' && proto[Symbol.dispose]) proto[Symbol.dispose] = proto.free;
  /** The first value of a fill (the count's room is checked then), or not a finite number. */
  function addFirst(q, value) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      flush(q);
      return plainAdd.call(q, value);
    }
    const b = q.__buffer ??= { n: 0, values: new Float64Array(QUANTILE_BUFFER) };
    if (plainCount.call(q) > QUANTILE_COUNT_LIMIT) return plainAdd.call(q, value);
    b.values[0] = value;
    b.n = 1;
  }
  Object.defineProperty(proto, 'add', {
    configurable: true,
    writable: true,
    value: function add(value) {
      const b = this.__buffer;
      // `value - value === 0`: a finite number (NaN and the infinities give NaN).
      if (b === undefined || b.n === 0 || typeof value !== 'number' || value - value !== 0) return addFirst(this, value);
      b.values[b.n] = value;
      if (++b.n === QUANTILE_BUFFER) flush(this);
    },
  });
}

/** Replaces `add` and `addMany` of the classes keyed by strings with the scratch-buffer path,
 * and buffers `Quantiles.add`. */
export function withFastBatches(wasm) {
  const marked = wasm.HyperLogLog?.prototype;
  if (!marked || Object.hasOwn(marked, FAST)) return wasm;
  Object.defineProperty(marked, FAST, { value: true });
  const scratch = scratchOf(wasm);
  for (const name of ['HyperLogLog', 'TopK', 'CountMinSketch', 'UniqueSeries']) {
    const proto = wasm[name]?.prototype;
    if (!proto || typeof proto.__addScratch !== 'function') continue;
    const plainAdd = proto.add;
    // The scratch methods answer a status, not a `Result` (see wasm/src/scratch.rs); on a
    // refusal, which changed nothing, the plain method repeats the call and throws the precise
    // error (or answers as it would have). A refusal may also mean the buffer was lost to a trap:
    // `scratch.refused()` makes the next add reserve it again.
    //
    // Only a string item with a plain number (or nothing) beside it takes the fast path: anything
    // else goes to the plain method, whose checks refuse it or convert it (a Date timestamp)
    // before the object's pointer is read (scripts/glue-numbers.mjs). A `valueOf` run here could
    // free the object, or add a string elsewhere and overwrite the item in the buffer.
    const plainNumber = (value) => value === undefined || value === null || typeof value === 'number';
    const weighted = function add(item, weight) {
      if (typeof item === 'string' && plainNumber(weight)) {
        if (this.__addScratch(scratch.one(item), weight ?? 1)) return;
        scratch.refused();
      }
      plainAdd.call(this, item, weight);
    };
    const add = {
      HyperLogLog: function add(item) {
        if (typeof item === 'string') {
          if (this.__addScratch(scratch.one(item))) return;
          scratch.refused();
        }
        plainAdd.call(this, item);
      },
      TopK: weighted,
      CountMinSketch: weighted,
      UniqueSeries: function add(item, timestampMs) {
        if (typeof item === 'string' && plainNumber(timestampMs)) {
          const added = this.__addScratch(scratch.one(item), timestampMs);
          if (added !== 2) return added === 1;
          scratch.refused();
        }
        return plainAdd.call(this, item, timestampMs);
      },
    }[name];
    Object.defineProperty(proto, 'add', { configurable: true, writable: true, value: add });
    if (typeof proto.__addScratchMany === 'function') {
      Object.defineProperty(proto, 'addMany', {
        configurable: true,
        writable: true,
        value: function addMany(strings) {
          for (let attempt = 0; ; attempt++) {
            const dataLen = scratch.many(strings, `${name}.addMany`);
            try {
              return this.__addScratchMany(scratch.count, dataLen);
            } catch (error) {
              // The buffer was lost to an earlier trap (see wasm/src/scratch.rs): reserve anew.
              if (attempt > 0 || !String(error?.message).startsWith('the scratch buffer holds')) throw error;
              scratch.refused();
            }
          }
        },
      });
    }
  }
  withBufferedQuantiles(wasm.Quantiles);
  return wasm;
}
