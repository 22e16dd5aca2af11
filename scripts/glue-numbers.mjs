// Prints the number checks that scripts/build-npm.sh appends to both glues, one wrapper per class
// method that takes a number or a bigint (read from the glue's .d.ts).
//
// Why: wasm-bindgen's glue reads the object's pointer, then the engine converts each number
// argument as the call enters WebAssembly. A `valueOf` that frees the object runs in between, so
// the module was handed freed memory (measured: a freed WindowCounter went on counting). The
// wrappers take numbers only, so no user code runs in between; they refuse the rest (the engine
// turned "5" into 5 and "x" into NaN). A timestamp parameter (TIMESTAMPS) takes a Date as well.
//
// Usage: node scripts/glue-numbers.mjs pkg/web/edgesketch.d.ts
import { readFileSync } from 'node:fs';

const dts = readFileSync(process.argv[2], 'utf8');
// Parameters that are points in time (a Date is one); durations and widths are not.
const TIMESTAMPS = /^(timestamp_ms|now_ms|from_ms|to_ms|written_ms)$/;
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const out = [];
let inClass = null;
for (const line of dts.split('\n')) {
  const opened = /^export class (\w+)/.exec(line);
  if (opened) { inClass = opened[1]; continue; }
  if (line.startsWith('}')) { inClass = null; continue; }
  if (!inClass) continue;
  const method = /^ {4}(static )?(\w+)\((.*)\): .*;$/.exec(line);
  if (!method || method[2] === 'constructor') continue;
  const params = method[3] === '' ? [] : method[3].split(/, (?=\w+\??: )/).map((p) => {
    const [, name, optional, type] = /^(\w+)(\??): (.*)$/.exec(p);
    return { name, optional: optional === '?' || /\| (null|undefined)\b/.test(type), type };
  });
  if (!params.some((p) => /^(number|bigint)\b/.test(p.type))) continue;
  const owner = method[1] ? inClass : `${inClass}.prototype`;
  const names = params.map((p) => camel(p.name));
  const args = params.map((p, i) => {
    const kind = /^bigint\b/.test(p.type) ? 'BigInt' : /^number\b/.test(p.type) ? 'Number' : null;
    if (!kind) return names[i];
    const ms = kind === 'Number' && TIMESTAMPS.test(p.name);
    return `edgesketch${kind}(${names[i]}, '${names[i]}', ${p.optional}${kind === 'Number' ? `, ${ms}` : ''})`;
  });
  out.push(`{ const plain = ${owner}.${method[2]};
  ${owner}.${method[2]} = function ${method[2]}(${names.join(', ')}) { return plain.call(this, ${args.join(', ')}); }; }`);
}
if (out.length < 20) {
  console.error(`${process.argv[2]}: only ${out.length} methods take numbers (a changed .d.ts layout?)`);
  process.exit(1);
}
console.log(`// --- Appended by scripts/build-npm.sh from scripts/glue-numbers.mjs: number arguments are\n// converted and checked before the glue reads the object's pointer.\n${out.join('\n')}`);
