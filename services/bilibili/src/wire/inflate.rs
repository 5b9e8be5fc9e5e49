//! Bounded zlib and brotli decompression into a reusable buffer.
//!
//! Both decompressors write into `out` in growing steps and stop as soon as the output would
//! pass the caller's limit, so a zip bomb costs at most `limit` bytes of memory.

use std::cell::RefCell;

use brotli_decompressor::{
    Allocator, BrotliDecompressStream, BrotliResult, BrotliState, HuffmanCode, SliceWrapper,
    SliceWrapperMut,
};
use bytes::{Bytes, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};

/// Why a container could not be decompressed.
#[derive(Debug)]
pub(super) enum Fail {
    /// The output would exceed the limit.
    TooLarge,
    /// The stream is corrupt, incomplete, or followed by garbage.
    Corrupt(String),
}

/// Smallest first output step; most real containers (a few KiB) fit in one or two steps.
const MIN_STEP: usize = 4 << 10;

/// Largest decompression buffer kept between containers.
const SCRATCH_KEEP: usize = 256 << 10;

/// The codec of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Codec {
    /// zlib with its header (protover 2).
    Zlib,
    /// brotli (protover 3).
    Brotli,
}

/// Decompressor state and the output buffer, one set per thread, lent to whichever
/// connection decodes a container on that thread.
///
/// Per connection they cost ≈ 20–30 KiB once a connection has seen a few containers (the
/// brotli tables and ring buffer, the output buffer, zlib's window), held for the
/// connection's whole life, idle or not: most of an idle room's memory at 10 000 rooms per
/// process. Decompression never awaits, so a thread only ever uses one set at a time and a
/// process holds one per runtime worker instead of one per room.
struct Inflaters {
    /// Created on the first zlib container: connections that negotiated brotli never need
    /// its ≈ 18 KiB.
    zlib: Option<Decompress>,
    /// Buffers of finished brotli streams, handed to the next one: a fresh brotli state per
    /// stream is unavoidable (the crate has no reset), its allocations are not.
    brotli_u8: Recycler<u8>,
    brotli_u32: Recycler<u32>,
    brotli_hc: Recycler<HuffmanCode>,
    /// Decompressed containers land here and are frozen into the `Bytes` that packets slice;
    /// once those are dropped the allocation is reclaimed for a later container.
    scratch: BytesMut,
}

thread_local! {
    static INFLATERS: RefCell<Inflaters> = RefCell::new(Inflaters::new());
}

/// Decompresses one container of `codec` into a buffer of its own, at most `limit` bytes,
/// with this thread's decompressor state (see [`Inflaters`]).
pub(super) fn decompress(codec: Codec, input: &[u8], limit: usize) -> Result<Bytes, Fail> {
    // A thread being torn down has no thread-locals left; a fresh set does the same work.
    INFLATERS
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut inflaters) => inflaters.decompress(codec, input, limit),
            Err(_) => Inflaters::new().decompress(codec, input, limit),
        })
        .unwrap_or_else(|_| Inflaters::new().decompress(codec, input, limit))
}

impl Inflaters {
    fn new() -> Self {
        Inflaters {
            zlib: None,
            brotli_u8: Recycler::default(),
            brotli_u32: Recycler::default(),
            brotli_hc: Recycler::default(),
            scratch: BytesMut::new(),
        }
    }

    fn decompress(&mut self, codec: Codec, input: &[u8], limit: usize) -> Result<Bytes, Fail> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let done = match codec {
            Codec::Zlib => self.zlib(input, &mut out, limit),
            Codec::Brotli => self.brotli(input, &mut out, limit),
        };
        if let Err(fail) = done {
            out.clear();
            if out.capacity() <= SCRATCH_KEEP {
                self.scratch = out;
            }
            return Err(fail);
        }
        if out.len() > SCRATCH_KEEP {
            // A big buffer goes over whole, so it is not kept once its packets are gone.
            return Ok(out.freeze());
        }
        let filled = out.split().freeze();
        self.scratch = out;
        Ok(filled)
    }

    /// Decompresses a zlib stream (with header) into the empty `out`, at most `limit` bytes.
    fn zlib(&mut self, input: &[u8], out: &mut BytesMut, limit: usize) -> Result<(), Fail> {
        let zlib = self.zlib.get_or_insert_with(|| Decompress::new(true));
        zlib.reset(true);
        let cap = limit.saturating_add(1);
        let (mut consumed, mut filled) = (0usize, 0usize);
        grow(out, filled, input.len(), cap);
        loop {
            let (in0, out0) = (zlib.total_in(), zlib.total_out());
            let status = zlib
                .decompress(
                    &input[consumed..],
                    &mut out[filled..],
                    FlushDecompress::None,
                )
                .map_err(|e| Fail::Corrupt(e.to_string()))?;
            // The deltas are bounded by the slices just passed in, so they fit usize.
            let used = (zlib.total_in() - in0) as usize;
            let made = (zlib.total_out() - out0) as usize;
            consumed += used;
            filled += made;
            if filled > limit {
                return Err(Fail::TooLarge);
            }
            match status {
                Status::StreamEnd => {
                    out.truncate(filled);
                    return trailing(input.len() - consumed);
                }
                Status::Ok | Status::BufError => {
                    if filled == out.len() {
                        grow(out, filled, input.len(), cap);
                    } else if consumed == input.len() {
                        return Err(Fail::Corrupt("stream ends before its end marker".into()));
                    } else if used == 0 && made == 0 {
                        return Err(Fail::Corrupt("decompressor made no progress".into()));
                    }
                }
            }
        }
    }

    /// Decompresses a brotli stream into the empty `out`, at most `limit` bytes.
    fn brotli(&mut self, input: &[u8], out: &mut BytesMut, limit: usize) -> Result<(), Fail> {
        // Strict mode: no large-window streams, so the ring buffer stays ≤ 16 MiB.
        let mut state = BrotliState::new_strict(
            std::mem::take(&mut self.brotli_u8),
            std::mem::take(&mut self.brotli_u32),
            std::mem::take(&mut self.brotli_hc),
        );
        let result = brotli_stream(&mut state, input, out, limit);
        // Hand the state's buffers back to the recyclers before it is dropped; whatever is
        // missed here is simply freed by the state's own cleanup.
        state.BrotliStateCleanupAfterMetablock();
        let ring = std::mem::take(&mut state.ringbuffer);
        state.alloc_u8.free_cell(ring);
        for trees in [
            std::mem::take(&mut state.block_type_length_state.block_type_trees),
            std::mem::take(&mut state.block_type_length_state.block_len_trees),
            std::mem::take(&mut state.context_map_table),
        ] {
            state.alloc_hc.free_cell(trees);
        }
        self.brotli_u8 = std::mem::take(&mut state.alloc_u8);
        self.brotli_u32 = std::mem::take(&mut state.alloc_u32);
        self.brotli_hc = std::mem::take(&mut state.alloc_hc);
        result
    }
}

type Brotli = BrotliState<Recycler<u8>, Recycler<u32>, Recycler<HuffmanCode>>;

fn brotli_stream(
    state: &mut Brotli,
    input: &[u8],
    out: &mut BytesMut,
    limit: usize,
) -> Result<(), Fail> {
    let cap = limit.saturating_add(1);
    let (mut avail_in, mut in_off, mut total) = (input.len(), 0usize, 0usize);
    let mut filled = 0usize;
    grow(out, filled, input.len(), cap);
    loop {
        let mut avail_out = out.len() - filled;
        let mut out_off = filled;
        let result = BrotliDecompressStream(
            &mut avail_in,
            &mut in_off,
            input,
            &mut avail_out,
            &mut out_off,
            &mut out[..],
            &mut total,
            state,
        );
        filled = out_off;
        if filled > limit {
            return Err(Fail::TooLarge);
        }
        match result {
            BrotliResult::ResultSuccess => {
                out.truncate(filled);
                return trailing(avail_in);
            }
            BrotliResult::NeedsMoreOutput => grow(out, filled, input.len(), cap),
            BrotliResult::NeedsMoreInput => {
                return Err(Fail::Corrupt(
                    "stream ends before its last meta-block".into(),
                ));
            }
            BrotliResult::ResultFailure => {
                return Err(Fail::Corrupt(format!("{:?}", state.error_code)));
            }
        }
    }
}

/// Largest block worth keeping, and most blocks kept per element type: enough for the
/// tables and ring buffer of real frames, small enough that thousands of idle connections
/// hold little (a zip bomb's big ring buffer is freed, not kept).
const RECYCLE_MAX_BLOCK: usize = 256 << 10;
const RECYCLE_MAX_BLOCKS: usize = 16;

/// A brotli allocator that hands out blocks freed by earlier streams of the same length.
/// Recycled blocks are not zeroed: the decoder writes every entry before it reads it (the
/// crate's `unsafe` feature and the C decoder rely on the same), and stale bytes are
/// harmless in safe Rust.
#[derive(Default)]
struct Recycler<T> {
    shelf: Vec<Box<[T]>>,
}

/// A block lent to the brotli state.
#[derive(Default)]
struct Block<T>(Box<[T]>);

impl<T> SliceWrapper<T> for Block<T> {
    fn slice(&self) -> &[T] {
        &self.0
    }
}

impl<T> SliceWrapperMut<T> for Block<T> {
    fn slice_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<T: Clone + Default> Allocator<T> for Recycler<T> {
    type AllocatedMemory = Block<T>;

    fn alloc_cell(&mut self, len: usize) -> Block<T> {
        if len == 0 {
            return Block::default();
        }
        match self.shelf.iter().position(|b| b.len() == len) {
            Some(i) => Block(self.shelf.swap_remove(i)),
            None => Block(vec![T::default(); len].into_boxed_slice()),
        }
    }

    fn free_cell(&mut self, block: Block<T>) {
        let bytes = std::mem::size_of_val::<[T]>(&block.0);
        if bytes > 0 && bytes <= RECYCLE_MAX_BLOCK && self.shelf.len() < RECYCLE_MAX_BLOCKS {
            self.shelf.push(block.0);
        }
    }
}

/// Garbage after the end of a stream cannot be packets; refuse rather than drop it silently.
fn trailing(left: usize) -> Result<(), Fail> {
    if left == 0 {
        Ok(())
    } else {
        Err(Fail::Corrupt(format!(
            "{left} bytes after the end of the stream"
        )))
    }
}

/// Makes room after `filled`: first a guess from the input size, then doubling, never past `cap`.
/// The new bytes are zeroed (safe Rust cannot hand out uninitialised memory); that costs far
/// less than the decompression that fills them.
fn grow(out: &mut BytesMut, filled: usize, input_len: usize, cap: usize) {
    let want = if filled == 0 {
        input_len.saturating_mul(8).max(MIN_STEP)
    } else {
        filled.saturating_mul(2)
    };
    out.resize(want.min(cap).max(filled.min(cap)), 0);
}
