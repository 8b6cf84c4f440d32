//! The TIFF container: header (classic and BigTIFF, both byte orders) and image file directories.
//!
//! Every offset and count read from the file is checked against the file length before anything
//! is allocated or read, so that a damaged or hostile file gives an error, never a panic or an
//! allocation larger than the file.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use geodino_core::{Error, Result};

use crate::source::Source;
use crate::tags;

/// At most this many IFDs are followed (a COG has a few dozen at most).
const MAX_IFDS: usize = 4096;
/// At most this many entries in one IFD.
const MAX_ENTRIES: u64 = 4096;

/// Byte order and offset width of a TIFF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// `MM` (Motorola) rather than `II` (Intel).
    pub big_endian: bool,
    /// BigTIFF (version 43, 64-bit offsets) rather than classic TIFF (version 42).
    pub bigtiff: bool,
    /// Offset of the first IFD.
    pub first_ifd: u64,
}

impl Header {
    pub(crate) fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian { u16::from_be_bytes(a) } else { u16::from_le_bytes(a) }
    }
    pub(crate) fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big_endian { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) }
    }
    pub(crate) fn u64(&self, b: &[u8]) -> u64 {
        let a = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
        if self.big_endian { u64::from_be_bytes(a) } else { u64::from_le_bytes(a) }
    }
    /// An offset-sized integer (4 bytes classic, 8 bytes BigTIFF).
    fn offset(&self, b: &[u8]) -> u64 {
        if self.bigtiff { self.u64(b) } else { self.u32(b) as u64 }
    }
    fn offset_size(&self) -> usize {
        if self.bigtiff { 8 } else { 4 }
    }
}

/// Read and check the 8- or 16-byte header.
pub(crate) fn read_header(src: &Source, path: &Path) -> Result<Header> {
    let len = src.len();
    if len < 8 {
        return Err(Error::format(path, format!("not a TIFF file: only {len} bytes long")));
    }
    let mut b = [0u8; 16];
    let n = len.min(16) as usize;
    src.read_exact_at(&mut b[..n], 0).map_err(|e| Error::io(path, e))?;
    let big_endian = match &b[..2] {
        b"II" => false,
        b"MM" => true,
        _ => {
            return Err(Error::format(
                path,
                format!(
                    "not a TIFF file: bad magic bytes {:02x} {:02x} (expected \"II\" or \"MM\")",
                    b[0], b[1]
                ),
            ));
        }
    };
    let mut h = Header { big_endian, bigtiff: false, first_ifd: 0 };
    match h.u16(&b[2..4]) {
        42 => h.first_ifd = h.u32(&b[4..8]) as u64,
        43 => {
            if n < 16 {
                return Err(Error::format(path, "truncated BigTIFF header"));
            }
            let bytesize = h.u16(&b[4..6]);
            if bytesize != 8 || h.u16(&b[6..8]) != 0 {
                return Err(Error::format(
                    path,
                    format!("BigTIFF header declares {bytesize}-byte offsets (expected 8)"),
                ));
            }
            h.bigtiff = true;
            h.first_ifd = h.u64(&b[8..16]);
        }
        v => {
            return Err(Error::format(
                path,
                format!("not a TIFF file: version {v} (expected 42, or 43 for BigTIFF)"),
            ));
        }
    }
    Ok(h)
}

/// The field types of TIFF 6.0 and BigTIFF.
fn type_size(t: u16) -> Option<u64> {
    Some(match t {
        1 | 2 | 6 | 7 => 1,              // BYTE, ASCII, SBYTE, UNDEFINED
        3 | 8 => 2,                      // SHORT, SSHORT
        4 | 9 | 11 | 13 => 4,            // LONG, SLONG, FLOAT, IFD
        5 | 10 | 12 | 16 | 17 | 18 => 8, // RATIONAL, SRATIONAL, DOUBLE, LONG8, SLONG8, IFD8
        _ => return None,
    })
}

/// One directory entry with its value bytes loaded (file byte order).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Field type code.
    pub typ: u16,
    /// The raw value bytes (`count × size(type)`), in the file's byte order.
    pub data: Vec<u8>,
}

/// One image file directory: the known tags of one image (full resolution, overview or mask).
#[derive(Debug, Clone)]
pub(crate) struct Ifd {
    /// Where the IFD starts in the file.
    pub offset: u64,
    /// Loaded entries by tag.
    pub entries: BTreeMap<u16, Entry>,
    pub header: Header,
}

impl Ifd {
    pub(crate) fn has(&self, tag: u16) -> bool {
        self.entries.contains_key(&tag)
    }

    /// All values of an integer-typed tag, widened to `u64` (negative signed values are rejected).
    pub(crate) fn uints(&self, tag: u16) -> Option<Vec<u64>> {
        let e = self.entries.get(&tag)?;
        let h = &self.header;
        let d = &e.data;
        let v: Vec<u64> = match e.typ {
            1 | 7 => d.iter().map(|&x| x as u64).collect(),
            3 => d.chunks_exact(2).map(|c| h.u16(c) as u64).collect(),
            4 | 13 => d.chunks_exact(4).map(|c| h.u32(c) as u64).collect(),
            16 | 18 => d.chunks_exact(8).map(|c| h.u64(c)).collect(),
            6 => d.iter().map(|&x| x as i8).map(|x| x.max(0) as u64).collect(),
            8 => d.chunks_exact(2).map(|c| (h.u16(c) as i16).max(0) as u64).collect(),
            9 => d.chunks_exact(4).map(|c| (h.u32(c) as i32).max(0) as u64).collect(),
            17 => d.chunks_exact(8).map(|c| (h.u64(c) as i64).max(0) as u64).collect(),
            _ => return None,
        };
        Some(v)
    }

    /// The first value of an integer-typed tag.
    pub(crate) fn uint(&self, tag: u16) -> Option<u64> {
        self.uints(tag).and_then(|v| v.first().copied())
    }

    /// All values of a numeric tag as `f64` (rationals divided out).
    pub(crate) fn floats(&self, tag: u16) -> Option<Vec<f64>> {
        let e = self.entries.get(&tag)?;
        let h = &self.header;
        let d = &e.data;
        let v: Vec<f64> = match e.typ {
            11 => d.chunks_exact(4).map(|c| f32::from_bits(h.u32(c)) as f64).collect(),
            12 => d.chunks_exact(8).map(|c| f64::from_bits(h.u64(c))).collect(),
            5 => d
                .chunks_exact(8)
                .map(|c| {
                    let (n, dn) = (h.u32(&c[..4]) as f64, h.u32(&c[4..]) as f64);
                    if dn == 0.0 { f64::NAN } else { n / dn }
                })
                .collect(),
            10 => d
                .chunks_exact(8)
                .map(|c| {
                    let (n, dn) = (h.u32(&c[..4]) as i32 as f64, h.u32(&c[4..]) as i32 as f64);
                    if dn == 0.0 { f64::NAN } else { n / dn }
                })
                .collect(),
            _ => self.uints(tag)?.into_iter().map(|x| x as f64).collect(),
        };
        Some(v)
    }

    /// An ASCII tag as text, up to the first NUL.
    pub(crate) fn ascii(&self, tag: u16) -> Option<String> {
        let e = self.entries.get(&tag)?;
        if e.typ != 2 && e.typ != 1 && e.typ != 7 {
            return None;
        }
        let end = e.data.iter().position(|&b| b == 0).unwrap_or(e.data.len());
        Some(String::from_utf8_lossy(&e.data[..end]).into_owned())
    }

    /// An ASCII tag with all its NUL-separated parts (GeoAsciiParams keeps NULs as `|`).
    pub(crate) fn ascii_raw(&self, tag: u16) -> Option<String> {
        let e = self.entries.get(&tag)?;
        Some(String::from_utf8_lossy(&e.data).into_owned())
    }

    /// The raw bytes of a BYTE/UNDEFINED tag.
    pub(crate) fn bytes(&self, tag: u16) -> Option<&[u8]> {
        let e = self.entries.get(&tag)?;
        (e.typ == 1 || e.typ == 7).then_some(e.data.as_slice())
    }
}

/// Read the chain of IFDs starting at the header's first offset.
pub(crate) fn read_ifds(src: &Source, path: &Path, h: Header) -> Result<Vec<Ifd>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut next = h.first_ifd;
    while next != 0 {
        if out.len() >= MAX_IFDS {
            return Err(Error::format(path, format!("more than {MAX_IFDS} IFDs")));
        }
        if !seen.insert(next) {
            // A chain that loops back: keep the IFDs read so far, as libtiff does.
            break;
        }
        match read_ifd(src, path, h, next) {
            Ok((ifd, n)) => {
                out.push(ifd);
                next = n;
            }
            // A damaged IFD after the first: keep what was read (GDAL does the same, warning).
            Err(_) if !out.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    if out.is_empty() {
        return Err(Error::format(path, "the TIFF has no image file directory"));
    }
    Ok(out)
}

/// Read one IFD at `offset`; returns it and the offset of the next one (0 at the end).
fn read_ifd(src: &Source, path: &Path, h: Header, offset: u64) -> Result<(Ifd, u64)> {
    let len = src.len();
    let truncated = |what: &str| {
        Error::format(
            path,
            format!("truncated file: {what} at offset {offset} lies past the end ({len} bytes)"),
        )
    };
    let count_size: u64 = if h.bigtiff { 8 } else { 2 };
    if offset.checked_add(count_size).is_none_or(|e| e > len) {
        return Err(truncated("image file directory"));
    }
    let mut cb = [0u8; 8];
    src.read_exact_at(&mut cb[..count_size as usize], offset).map_err(|e| Error::io(path, e))?;
    let n = if h.bigtiff { h.u64(&cb) } else { h.u16(&cb) as u64 };
    if n > MAX_ENTRIES {
        return Err(Error::format(
            path,
            format!("image file directory at offset {offset} claims {n} entries"),
        ));
    }
    let entry_size: u64 = if h.bigtiff { 20 } else { 12 };
    let osz = h.offset_size() as u64;
    let body = n * entry_size + osz;
    if (offset + count_size).checked_add(body).is_none_or(|e| e > len) {
        return Err(truncated("image file directory"));
    }
    let mut buf = vec![0u8; body as usize];
    src.read_exact_at(&mut buf, offset + count_size).map_err(|e| Error::io(path, e))?;
    let mut entries = BTreeMap::new();
    for i in 0..n as usize {
        let e = &buf[i * entry_size as usize..(i + 1) * entry_size as usize];
        let tag = h.u16(&e[0..2]);
        if !tags::KNOWN.contains(&tag) || entries.contains_key(&tag) {
            continue;
        }
        let typ = h.u16(&e[2..4]);
        let Some(tsize) = type_size(typ) else { continue };
        let (count, value) = if h.bigtiff {
            (h.u64(&e[4..12]), &e[12..20])
        } else {
            (h.u32(&e[4..8]) as u64, &e[8..12])
        };
        let Some(size) = count.checked_mul(tsize) else {
            return Err(Error::format(path, format!("tag {tag}: absurd value count {count}")));
        };
        let data = if size <= osz {
            value[..size as usize].to_vec()
        } else {
            let at = h.offset(value);
            if at.checked_add(size).is_none_or(|end| end > len) {
                return Err(Error::format(
                    path,
                    format!(
                        "truncated file: the {size}-byte value of tag {tag} at offset {at} lies \
                         past the end ({len} bytes)"
                    ),
                ));
            }
            let mut d = vec![0u8; size as usize];
            src.read_exact_at(&mut d, at).map_err(|e| Error::io(path, e))?;
            d
        };
        entries.insert(tag, Entry { typ, data });
    }
    let next = h.offset(&buf[(n * entry_size) as usize..]);
    Ok((Ifd { offset, entries, header: h }, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic_le(entries: &[(u16, u16, u32, u32)]) -> Vec<u8> {
        let mut v = b"II*\0".to_vec();
        v.extend_from_slice(&8u32.to_le_bytes());
        v.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for &(tag, typ, count, val) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&typ.to_le_bytes());
            v.extend_from_slice(&count.to_le_bytes());
            v.extend_from_slice(&val.to_le_bytes());
        }
        v.extend_from_slice(&0u32.to_le_bytes());
        v
    }

    #[test]
    fn parses_a_minimal_classic_header_and_ifd() {
        let bytes = classic_le(&[(256, 3, 1, 20), (257, 4, 1, 30), (999, 3, 1, 1)]);
        let src = Source::Memory(bytes);
        let p = Path::new("x.tif");
        let h = read_header(&src, p).unwrap();
        assert!(!h.big_endian && !h.bigtiff && h.first_ifd == 8);
        let ifds = read_ifds(&src, p, h).unwrap();
        assert_eq!(ifds.len(), 1);
        assert_eq!(ifds[0].uint(tags::IMAGE_WIDTH), Some(20));
        assert_eq!(ifds[0].uint(tags::IMAGE_LENGTH), Some(30));
        assert!(!ifds[0].has(999), "unknown tags are skipped");
    }

    #[test]
    fn bad_magic_is_an_error_and_loops_are_cut() {
        let p = Path::new("bad.tif");
        let e = read_header(&Source::Memory(b"GIF89a\0\0\0\0".to_vec()), p).unwrap_err();
        assert!(e.to_string().contains("bad.tif") && e.to_string().contains("magic"), "{e}");
        // An IFD whose next pointer is itself.
        let mut bytes = classic_le(&[(256, 3, 1, 20)]);
        let n = bytes.len();
        bytes[n - 4..].copy_from_slice(&8u32.to_le_bytes());
        let src = Source::Memory(bytes);
        let h = read_header(&src, p).unwrap();
        // the first IFD is read, the loop is cut
        assert_eq!(read_ifds(&src, p, h).unwrap().len(), 1);
    }

    #[test]
    fn out_of_file_values_are_errors() {
        // BitsPerSample: 3 SHORTs (6 bytes) stored at offset 10000, past the end.
        let bytes = classic_le(&[(258, 3, 3, 10_000)]);
        let src = Source::Memory(bytes);
        let p = Path::new("t.tif");
        let h = read_header(&src, p).unwrap();
        let e = read_ifds(&src, p, h).unwrap_err();
        assert!(e.to_string().contains("past the end"), "{e}");
    }
}
