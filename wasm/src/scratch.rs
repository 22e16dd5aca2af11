//! The scratch buffer: bytes inside WebAssembly memory that the package's JS side
//! (`pkg-template/batch.js`) writes string items into directly, then names by length. A string
//! passed as `&str` costs a `malloc`, a copy and a `free` per call in wasm-bindgen's glue; this
//! way one call with a string costs what a call with numbers does, and a batch of strings is
//! encoded once, in place, with no copy on either side.
//!
//! Layout of a batch of `count` items: their end offsets (u32, little-endian) first, then the
//! items' bytes; item `i` spans `ends[i - 1]..ends[i]` of the bytes (the first starts at 0).
//! The buffer moves only in [`scratch_reserve`], which answers its new address.

use std::cell::Cell;

use wasm_bindgen::prelude::*;

use crate::{JsResult, error};

thread_local! {
    // Taken out while in use and put back after, not a RefCell: a trap (an allocation failing
    // inside a merge, say) never unwinds, and would leave a RefCell borrowed, so that every later
    // string add trapped too. A trap here leaves the buffer empty instead, and the JS side's
    // next reserve makes a new one.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on the scratch buffer.
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut scratch = SCRATCH.take();
    let result = f(&mut scratch);
    SCRATCH.set(scratch);
    result
}

/// Makes the scratch buffer at least `bytes` long and answers its address in memory, or 0 if
/// the memory cannot hold it (then nothing changed) (internal).
#[wasm_bindgen(js_name = __scratchReserve, skip_typescript)]
pub fn scratch_reserve(bytes: u32) -> u32 {
    with_scratch(|scratch| {
        let wanted = bytes as usize;
        if scratch.len() < wanted {
            if scratch.try_reserve_exact(wanted - scratch.len()).is_err() {
                return 0;
            }
            // Filled, never spare capacity: JS writes into bytes Rust considers initialized.
            scratch.resize(wanted, 0);
        }
        scratch.as_mut_ptr() as usize as u32
    })
}

/// Makes the scratch buffer at most `bytes` long and answers its address in memory (internal).
/// The space goes back to the allocator, for sketches to use: one large batch would otherwise
/// hold it for good.
#[wasm_bindgen(js_name = __scratchShrink, skip_typescript)]
pub fn scratch_shrink(bytes: u32) -> u32 {
    with_scratch(|scratch| {
        if scratch.len() > bytes as usize {
            scratch.truncate(bytes as usize);
            scratch.shrink_to_fit();
        }
        scratch.as_mut_ptr() as usize as u32
    })
}

/// The module's `WebAssembly.Memory`, which the scratch buffer lives in (internal).
#[wasm_bindgen(js_name = __memory, skip_typescript)]
pub fn memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Runs `f` on the first `len` bytes of the scratch buffer (one item); `None` if it is shorter.
///
/// The one-item methods answer a plain status instead of a `Result`: a `Result` comes back to
/// JS through a two-value return, which wasm-bindgen's glue receives as a fresh array, and that
/// allocation was the largest cost of a call. On failure (which changes nothing) the JS side
/// repeats the call through the plain `&str` method, which throws the precise error.
pub(crate) fn with_item<R>(len: u32, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    with_scratch(|scratch| scratch.get(..len as usize).map(f))
}

/// Runs `f` on each of the `count` items of a batch whose bytes are `data_len` long, after
/// checking every end offset (so a bad batch changes nothing).
pub(crate) fn with_items(
    count: u32,
    data_len: u32,
    mut f: impl FnMut(&[u8]) -> JsResult<()>,
) -> JsResult<()> {
    with_scratch(|scratch| {
        // Checked: on wasm32 a usize is 32 bits, and count comes from JS.
        let ends_len = (count as usize).checked_mul(4);
        let total = ends_len.and_then(|e| e.checked_add(data_len as usize));
        let (Some(ends_len), Some(batch)) = (ends_len, total.and_then(|t| scratch.get(..t))) else {
            return Err(overrun(
                u64::from(count) * 4 + u64::from(data_len),
                scratch.len(),
            ));
        };
        let (ends, data) = batch.split_at(ends_len);
        let end_at =
            |i: usize| u32::from_le_bytes([ends[i], ends[i + 1], ends[i + 2], ends[i + 3]]);
        let mut start = 0u32;
        for (i, at) in (0..ends_len).step_by(4).enumerate() {
            let end = end_at(at);
            if end < start || end > data_len {
                return Err(error(&format!(
                    "ends[{i}] = {end} is out of order or past the batch's {data_len} bytes"
                )));
            }
            start = end;
        }
        start = 0;
        for at in (0..ends_len).step_by(4) {
            let end = end_at(at);
            f(&data[start as usize..end as usize])?;
            start = end;
        }
        Ok(())
    })
}

fn overrun(wanted: u64, held: usize) -> JsValue {
    error(&format!(
        "the scratch buffer holds {held} bytes, not the {wanted} named"
    ))
}
