//! The streamed tile pyramid: pending tiles of every level, completion tracking, the 2 × 2
//! reduction of every finished tile into the level below it, and parallel encoding.
//!
//! Memory: a level-0 tile stays in memory from its first written pixel until its last; a
//! finished tile is reduced into its parent (a quarter of the parent tile) and encoded at once.
//! Fed row bands, the pending set is one row of tiles per level (half as wide at each level).

use std::collections::HashMap;
use std::path::Path;

use ndarray::ArrayView3;

use geodino_core::{BlockSize, Error, RasterBuffer, Result, Window};

use super::codec::{Encoding, encode_tile};
use super::resample::{Reducer, Reducible};

/// Dimensions of one pyramid level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LevelDims {
    pub width: usize,
    pub height: usize,
    /// Written to the file (hidden levels only feed the next one).
    pub emit: bool,
}

impl LevelDims {
    pub fn tiles(&self, ts: usize) -> (usize, usize) {
        BlockSize::new(ts, ts).grid(self.width, self.height)
    }
}

/// Counters exposed through [`super::WriterStats`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub pending_tiles: usize,
    pub peak_pending_tiles: usize,
    pub peak_pending_bytes: usize,
    pub tiles_encoded: usize,
}

/// An encoded tile ready for the scratch file.
pub(crate) struct EncodedTile {
    pub level: usize,
    pub index: usize,
    pub bytes: Vec<u8>,
}

/// Where compression runs.
#[derive(Debug)]
pub(crate) enum Pool {
    /// On the calling thread.
    Serial,
    /// rayon's global pool.
    Global,
    /// A pool owned by the writer.
    Own(rayon::ThreadPool),
}

impl Pool {
    pub fn new(threads: usize) -> Result<Pool> {
        Ok(match threads {
            0 => Pool::Global,
            1 => Pool::Serial,
            n => Pool::Own(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("geodino-tiff-{i}"))
                    .build()
                    .map_err(|e| Error::Invalid(format!("cannot start {n} threads: {e}")))?,
            ),
        })
    }

    fn map<I: Send + Sync, O: Send>(
        &self,
        items: &[I],
        f: impl Fn(&I) -> O + Sync + Send,
    ) -> Vec<O> {
        use rayon::prelude::*;
        match self {
            Pool::Serial => items.iter().map(f).collect(),
            Pool::Global => items.par_iter().map(f).collect(),
            Pool::Own(p) => p.install(|| items.par_iter().map(f).collect()),
        }
    }
}

struct Pending<T> {
    data: Vec<T>,
    filled: usize,
    need: usize,
    /// Written pixels (level 0 only, where windows may overlap); row-major, `ts × ts` bits.
    mask: Option<Vec<u64>>,
}

struct Level<T> {
    dims: LevelDims,
    tiles_x: usize,
    tiles_y: usize,
    pending: HashMap<usize, Pending<T>>,
    done: Vec<bool>,
}

impl<T> Level<T> {
    fn tile_window(&self, idx: usize, ts: usize) -> Window {
        BlockSize::new(ts, ts).window(
            idx % self.tiles_x,
            idx / self.tiles_x,
            self.dims.width,
            self.dims.height,
        )
    }
}

/// Set bits `[from, to)` of `mask`, returning how many were not set before.
fn set_bits(mask: &mut [u64], from: usize, to: usize) -> usize {
    let mut new = 0;
    let mut i = from;
    while i < to {
        let w = i / 64;
        let lo = i % 64;
        let hi = (to - w * 64).min(64);
        let bits = if hi - lo == 64 { u64::MAX } else { ((1u64 << (hi - lo)) - 1) << lo };
        new += (bits & !mask[w]).count_ones() as usize;
        mask[w] |= bits;
        i = w * 64 + hi;
    }
    new
}

/// The pyramid of one data type.
pub(crate) struct Pyramid<T> {
    levels: Vec<Level<T>>,
    ts: usize,
    spp: usize,
    fill: T,
    reducer: Reducer<T>,
    enc: Encoding,
    pool: Pool,
    counters: Counters,
    /// Tile buffers of encoded tiles, reused for new pending tiles (no page faults, no
    /// allocator round trips); at most one batch's worth is kept.
    spare: Vec<Vec<T>>,
}

impl<T: Reducible> Pyramid<T> {
    pub fn new(
        dims: &[LevelDims],
        enc: Encoding,
        fill: T,
        reducer: Reducer<T>,
        pool: Pool,
    ) -> Pyramid<T> {
        let ts = enc.tile;
        let levels = dims
            .iter()
            .map(|&d| {
                let (tiles_x, tiles_y) = d.tiles(ts);
                Level {
                    dims: d,
                    tiles_x,
                    tiles_y,
                    pending: HashMap::new(),
                    done: vec![false; tiles_x * tiles_y],
                }
            })
            .collect();
        Pyramid {
            levels,
            ts,
            spp: enc.spp,
            fill,
            reducer,
            enc,
            pool,
            counters: Counters::default(),
            spare: Vec::new(),
        }
    }

    fn tile_len(&self) -> usize {
        self.ts * self.ts * self.spp
    }

    fn pending_tiles(&self) -> usize {
        self.levels.iter().map(|l| l.pending.len()).sum()
    }

    /// A tile buffer filled with the fill value, recycled when possible.
    fn fresh_tile(&mut self) -> Vec<T> {
        match self.spare.pop() {
            Some(mut v) => {
                v.fill(self.fill);
                v
            }
            None => vec![self.fill; self.tile_len()],
        }
    }

    fn new_pending(&mut self, need: usize, masked: bool) -> Pending<T> {
        Pending {
            data: self.fresh_tile(),
            filled: 0,
            need,
            mask: masked.then(|| vec![0u64; (self.ts * self.ts).div_ceil(64)]),
        }
    }

    /// Copy `data` (`(band, row, col)` over `window`, which lies inside one row of level-0
    /// tiles) into its tiles; return the tiles that became complete.
    fn paste(&mut self, window: Window, data: ArrayView3<'_, T>) -> Vec<(usize, Vec<T>)> {
        let ts = self.ts;
        let spp = self.spp;
        let l0 = &self.levels[0];
        let blocks = window.blocks(BlockSize::new(ts, ts), l0.dims.width, l0.dims.height);
        let mut completed = Vec::new();
        for (tx, ty) in blocks {
            let idx = ty * self.levels[0].tiles_x + tx;
            let tw = self.levels[0].tile_window(idx, ts);
            let inter = window.intersection(&tw).expect("block list is clipped to the window");
            if !self.levels[0].pending.contains_key(&idx) {
                let p = self.new_pending(tw.area(), true);
                self.levels[0].pending.insert(idx, p);
            }
            let p = self.levels[0].pending.get_mut(&idx).expect("inserted above");
            let lc0 = (inter.col_off - tw.col_off) as usize;
            let sc0 = (inter.col_off - window.col_off) as usize;
            let w = inter.width;
            for r in inter.row_off..inter.row_end() {
                let lr = (r - tw.row_off) as usize;
                let sr = (r - window.row_off) as usize;
                let base = (lr * ts + lc0) * spp;
                for b in 0..spp {
                    let src = data.slice(ndarray::s![b, sr, sc0..sc0 + w]);
                    let dst = &mut p.data[base + b..base + w * spp];
                    if spp == 1
                        && let Some(s) = src.as_slice()
                    {
                        dst.copy_from_slice(s);
                        continue;
                    }
                    for (d, &s) in dst.iter_mut().step_by(spp).zip(src.iter()) {
                        *d = s;
                    }
                }
                let mask = p.mask.as_mut().expect("level-0 tiles carry a mask");
                p.filled += set_bits(mask, lr * ts + lc0, lr * ts + lc0 + w);
            }
            if p.filled == p.need {
                let p = self.levels[0].pending.remove(&idx).expect("present");
                self.levels[0].done[idx] = true;
                completed.push((idx, p.data));
            }
        }
        completed
    }

    /// Reduce every completed tile into its parent level, collecting the parents that complete
    /// in turn. Returns all completed tiles as `(level, index, data)`.
    fn cascade(&mut self, level0: Vec<(usize, Vec<T>)>) -> Vec<(usize, usize, Vec<T>)> {
        let ts = self.ts;
        let spp = self.spp;
        let mut queue: Vec<(usize, usize, Vec<T>)> =
            level0.into_iter().map(|(i, d)| (0, i, d)).collect();
        let mut k = 0;
        while k < queue.len() {
            let (l, idx) = (queue[k].0, queue[k].1);
            if l + 1 < self.levels.len() {
                let cw = self.levels[l].tile_window(idx, ts);
                let parent_dims = self.levels[l + 1].dims;
                // parent pixels whose 2x2 window starts inside this child tile
                let px0 = cw.col_off as usize / 2;
                let py0 = cw.row_off as usize / 2;
                let px1 = (cw.col_end() as usize).div_ceil(2).min(parent_dims.width);
                let py1 = (cw.row_end() as usize).div_ceil(2).min(parent_dims.height);
                if px1 > px0 && py1 > py0 {
                    let ptx = px0 / ts;
                    let pty = py0 / ts;
                    let pidx = pty * self.levels[l + 1].tiles_x + ptx;
                    if !self.levels[l + 1].pending.contains_key(&pidx) {
                        let need = self.levels[l + 1].tile_window(pidx, ts).area();
                        let p = self.new_pending(need, false);
                        self.levels[l + 1].pending.insert(pidx, p);
                    }
                    let parent = self.levels[l + 1].pending.get_mut(&pidx).expect("inserted");
                    self.reducer.reduce_tile(
                        &queue[k].2,
                        (cw.width, cw.height),
                        &mut parent.data,
                        (px0 - ptx * ts, py0 - pty * ts),
                        (px1 - px0, py1 - py0),
                        ts,
                        spp,
                    );
                    parent.filled += (px1 - px0) * (py1 - py0);
                    if parent.filled == parent.need {
                        let p = self.levels[l + 1].pending.remove(&pidx).expect("present");
                        self.levels[l + 1].done[pidx] = true;
                        queue.push((l + 1, pidx, p.data));
                    }
                }
            }
            k += 1;
        }
        queue
    }

    /// Cascade, account, encode in parallel and hand the encoded tiles to `sink`.
    fn process(
        &mut self,
        level0: Vec<(usize, Vec<T>)>,
        path: &Path,
        sink: &mut dyn FnMut(EncodedTile) -> Result<()>,
    ) -> Result<()> {
        let done = self.cascade(level0);
        let pending = self.pending_tiles();
        self.counters.pending_tiles = pending;
        self.counters.peak_pending_tiles = self.counters.peak_pending_tiles.max(pending);
        // pixel buffers alive now: partly written tiles, the finished batch, recycled spares
        let live = pending + done.len() + self.spare.len();
        let live_bytes = live * self.tile_len() * std::mem::size_of::<T>();
        self.counters.peak_pending_bytes = self.counters.peak_pending_bytes.max(live_bytes);
        let emit: Vec<&(usize, usize, Vec<T>)> =
            done.iter().filter(|t| self.levels[t.0].dims.emit).collect();
        let enc = self.enc;
        let encoded = self.pool.map(&emit, |t| encode_tile(&t.2, &enc));
        for (t, bytes) in emit.iter().zip(encoded) {
            let bytes = bytes.map_err(|e| Error::io(path, e))?;
            self.counters.tiles_encoded += 1;
            sink(EncodedTile { level: t.0, index: t.1, bytes })?;
        }
        let keep = done.len().max(self.levels[0].tiles_x);
        for (_, _, data) in done {
            if self.spare.len() < keep {
                self.spare.push(data);
            }
        }
        Ok(())
    }

    /// Write `data` at `window` (checked by the caller to be inside the raster and of the
    /// right shape). Fails, before changing anything, when the window touches a tile that is
    /// already complete and encoded.
    pub fn write(
        &mut self,
        window: Window,
        data: ArrayView3<'_, T>,
        path: &Path,
        sink: &mut dyn FnMut(EncodedTile) -> Result<()>,
    ) -> Result<()> {
        let ts = self.ts;
        let l0 = &self.levels[0];
        for (tx, ty) in window.blocks(BlockSize::new(ts, ts), l0.dims.width, l0.dims.height) {
            if l0.done[ty * l0.tiles_x + tx] {
                return Err(Error::Invalid(format!(
                    "{}: window {window} writes into tile ({tx}, {ty}) (pixels {}), which is \
                     already complete and compressed; each pixel may be rewritten only until \
                     its tile is complete",
                    path.display(),
                    l0.tile_window(ty * l0.tiles_x + tx, ts)
                )));
            }
        }
        // one row of tiles at a time keeps a large window from holding every tile at once
        let mut r = window.row_off;
        while r < window.row_end() {
            let band_end = ((r as usize / ts + 1) * ts).min(window.row_end() as usize) as i64;
            let sub = Window::new(window.col_off, r, window.width, (band_end - r) as usize);
            let rows = (r - window.row_off) as usize..(band_end - window.row_off) as usize;
            let view = data.slice(ndarray::s![.., rows, ..]);
            let completed = self.paste(sub, view);
            self.process(completed, path, sink)?;
            r = band_end;
        }
        Ok(())
    }

    /// Complete every level-0 tile (unwritten pixels keep the fill value), one tile row at a
    /// time, which completes every level below it.
    pub fn finish(
        &mut self,
        path: &Path,
        sink: &mut dyn FnMut(EncodedTile) -> Result<()>,
    ) -> Result<()> {
        let (tiles_x, tiles_y) = (self.levels[0].tiles_x, self.levels[0].tiles_y);
        for ty in 0..tiles_y {
            let mut row = Vec::new();
            for tx in 0..tiles_x {
                let idx = ty * tiles_x + tx;
                if self.levels[0].done[idx] {
                    continue;
                }
                let data = match self.levels[0].pending.remove(&idx) {
                    Some(p) => p.data,
                    None => self.fresh_tile(),
                };
                self.levels[0].done[idx] = true;
                row.push((idx, data));
            }
            self.process(row, path, sink)?;
        }
        if let Some(l) = self.levels.iter().position(|l| l.done.iter().any(|d| !d)) {
            return Err(Error::Invalid(format!(
                "{}: internal error: overview level {l} is incomplete after all tiles were written",
                path.display()
            )));
        }
        Ok(())
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Pixels never written at level 0 so far (pending tiles' holes and untouched tiles).
    pub fn pending_bytes(&self) -> usize {
        self.pending_tiles() * self.tile_len() * std::mem::size_of::<T>()
    }
}

/// The type-erased pyramid the writer holds.
pub(crate) trait Engine: Send {
    fn write(
        &mut self,
        window: Window,
        data: &RasterBuffer,
        path: &Path,
        sink: &mut dyn FnMut(EncodedTile) -> Result<()>,
    ) -> Result<()>;
    fn finish(
        &mut self,
        path: &Path,
        sink: &mut dyn FnMut(EncodedTile) -> Result<()>,
    ) -> Result<()>;
    fn counters(&self) -> Counters;
    fn pending_bytes(&self) -> usize;
}

impl<T: Reducible> Engine for Pyramid<T> {
    fn write(
        &mut self,
        window: Window,
        data: &RasterBuffer,
        path: &Path,
        sink: &mut dyn FnMut(EncodedTile) -> Result<()>,
    ) -> Result<()> {
        let view = T::view(data).ok_or_else(|| {
            Error::Invalid(format!(
                "{}: data is {} but the raster is {}",
                path.display(),
                data.dtype(),
                T::DTYPE
            ))
        })?;
        Pyramid::write(self, window, view, path, sink)
    }

    fn finish(
        &mut self,
        path: &Path,
        sink: &mut dyn FnMut(EncodedTile) -> Result<()>,
    ) -> Result<()> {
        Pyramid::finish(self, path, sink)
    }

    fn counters(&self) -> Counters {
        Pyramid::counters(self)
    }

    fn pending_bytes(&self) -> usize {
        Pyramid::pending_bytes(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_ranges_count_new_pixels_once() {
        let mut m = vec![0u64; 4];
        assert_eq!(set_bits(&mut m, 3, 70), 67);
        assert_eq!(set_bits(&mut m, 0, 10), 3);
        assert_eq!(set_bits(&mut m, 60, 200), 130);
        assert_eq!(set_bits(&mut m, 0, 256), 256 - 200);
        assert!(m.iter().all(|&w| w == u64::MAX));
        assert_eq!(set_bits(&mut m, 64, 128), 0);
    }
}
