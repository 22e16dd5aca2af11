//! The scratch buffer: bytes inside WebAssembly memory that the package's JS side
//! (`pkg-template/batch.js`) writes string items into directly, then names by length. A string
//! passed as `&str` costs a `malloc`, a copy and a `free` per call in wasm-bindgen's glue; this
//! way one call with a string costs what a call with numbers does, and a batch of strings is
//! encoded once, in place, with no copy on either side.
//!
//! Layout of a batch of `count` items: their end offsets (u32, little-endian) first, then the
//! items' bytes; item `i` spans `ends[i - 1]..ends[i]` of the bytes (the first starts at 0).
//! The buffer moves only in [`scratch_reserve`], which answers its new address.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use crate::JsResult;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Makes the scratch buffer at least `bytes` long and answers its address in memory (internal).
#[wasm_bindgen(js_name = __scratchReserve, skip_typescript)]
pub fn scratch_reserve(bytes: u32) -> u32 {
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.len() < bytes as usize {
            // Filled, never spare capacity: JS writes into bytes Rust considers initialized.
            scratch.resize(bytes as usize, 0);
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
    SCRATCH.with_borrow(|scratch| scratch.get(..len as usize).map(f))
}

/// Runs `f` on each of the `count` items of a batch whose bytes are `data_len` long, after
/// checking every end offset (so a bad batch changes nothing).
pub(crate) fn with_items(
    count: u32,
    data_len: u32,
    mut f: impl FnMut(&[u8]) -> JsResult<()>,
) -> JsResult<()> {
    SCRATCH.with_borrow(|scratch| {
        let ends_len = count as usize * 4;
        let total = ends_len + data_len as usize;
        let Some(batch) = scratch.get(..total) else {
            return Err(overrun(total, scratch.len()));
        };
        let (ends, data) = batch.split_at(ends_len);
        let end_at =
            |i: usize| u32::from_le_bytes([ends[i], ends[i + 1], ends[i + 2], ends[i + 3]]);
        let mut start = 0u32;
        for (i, at) in (0..ends_len).step_by(4).enumerate() {
            let end = end_at(at);
            if end < start || end > data_len {
                return Err(JsError::new(&format!(
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

fn overrun(wanted: usize, held: usize) -> JsError {
    JsError::new(&format!(
        "the scratch buffer holds {held} bytes, not the {wanted} named"
    ))
}
