//! TIFF tag numbers, field types and the serialisation of image file directories (IFDs),
//! classic and BigTIFF, always little-endian.

/// Tag numbers the writer uses (TIFF 6.0, the GeoTIFF 1.1 and GDAL private tags).
#[allow(missing_docs)]
pub(crate) mod tag {
    pub const NEW_SUBFILE_TYPE: u16 = 254;
    pub const IMAGE_WIDTH: u16 = 256;
    pub const IMAGE_LENGTH: u16 = 257;
    pub const BITS_PER_SAMPLE: u16 = 258;
    pub const COMPRESSION: u16 = 259;
    pub const PHOTOMETRIC: u16 = 262;
    pub const SAMPLES_PER_PIXEL: u16 = 277;
    pub const PLANAR_CONFIG: u16 = 284;
    pub const PREDICTOR: u16 = 317;
    pub const COLOR_MAP: u16 = 320;
    pub const TILE_WIDTH: u16 = 322;
    pub const TILE_LENGTH: u16 = 323;
    pub const TILE_OFFSETS: u16 = 324;
    pub const TILE_BYTE_COUNTS: u16 = 325;
    pub const EXTRA_SAMPLES: u16 = 338;
    pub const SAMPLE_FORMAT: u16 = 339;
    pub const MODEL_PIXEL_SCALE: u16 = 33550;
    pub const MODEL_TIEPOINT: u16 = 33922;
    pub const MODEL_TRANSFORMATION: u16 = 34264;
    pub const GEO_KEY_DIRECTORY: u16 = 34735;
    pub const GEO_ASCII_PARAMS: u16 = 34737;
    pub const GDAL_METADATA: u16 = 42112;
    pub const GDAL_NODATA: u16 = 42113;
}

/// TIFF field types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Ascii = 2,
    Short = 3,
    Long = 4,
    Double = 12,
    Long8 = 16,
}

impl FieldType {
    fn size(self) -> usize {
        match self {
            FieldType::Ascii => 1,
            FieldType::Short => 2,
            FieldType::Long => 4,
            FieldType::Double | FieldType::Long8 => 8,
        }
    }
}

/// One directory entry with its values already encoded little-endian.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub tag: u16,
    pub typ: FieldType,
    pub count: u64,
    pub bytes: Vec<u8>,
}

impl Entry {
    pub fn shorts(tag: u16, v: &[u16]) -> Entry {
        Entry {
            tag,
            typ: FieldType::Short,
            count: v.len() as u64,
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    pub fn short(tag: u16, v: u16) -> Entry {
        Entry::shorts(tag, &[v])
    }

    pub fn long(tag: u16, v: u32) -> Entry {
        Entry { tag, typ: FieldType::Long, count: 1, bytes: v.to_le_bytes().to_vec() }
    }

    /// Image dimensions: SHORT when they fit, LONG otherwise (as libtiff writes them).
    pub fn dim(tag: u16, v: usize) -> Entry {
        if v <= u16::MAX as usize {
            Entry::short(tag, v as u16)
        } else {
            Entry::long(tag, v as u32)
        }
    }

    pub fn doubles(tag: u16, v: &[f64]) -> Entry {
        Entry {
            tag,
            typ: FieldType::Double,
            count: v.len() as u64,
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// An ASCII entry; the terminating NUL is added.
    pub fn ascii(tag: u16, s: &str) -> Entry {
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        Entry { tag, typ: FieldType::Ascii, count: bytes.len() as u64, bytes }
    }

    /// Offsets or byte counts: LONG in classic TIFF, LONG8 in BigTIFF.
    pub fn offsets(tag: u16, v: &[u64], big: bool) -> Entry {
        if big {
            Entry {
                tag,
                typ: FieldType::Long8,
                count: v.len() as u64,
                bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            }
        } else {
            Entry {
                tag,
                typ: FieldType::Long,
                count: v.len() as u64,
                bytes: v.iter().flat_map(|&x| (x as u32).to_le_bytes()).collect(),
            }
        }
    }
}

/// Byte size of an IFD with `entries` (sorted or not) and all its out-of-line values, each
/// value padded to an even length.
pub(crate) fn ifd_size(entries: &[Entry], big: bool) -> u64 {
    let (head, entry, next, inline) = if big { (8, 20, 8, 8) } else { (2, 12, 4, 4) };
    let mut n = head + entry * entries.len() as u64 + next;
    for e in entries {
        debug_assert_eq!(e.bytes.len() as u64, e.count * e.typ.size() as u64);
        if e.bytes.len() > inline {
            n += (e.bytes.len() as u64).next_multiple_of(2);
        }
    }
    n
}

/// Serialise an IFD placed at file offset `at`, its out-of-line values right after it, with
/// `next` as the offset of the following IFD (0 for the last one). Entries are sorted by tag.
/// The result is exactly [`ifd_size`] bytes long.
pub(crate) fn write_ifd(entries: &mut [Entry], at: u64, next: u64, big: bool) -> Vec<u8> {
    entries.sort_by_key(|e| e.tag);
    let (head, entry, nextsz, inline) =
        if big { (8u64, 20u64, 8u64, 8usize) } else { (2, 12, 4, 4) };
    let mut out = Vec::with_capacity(ifd_size(entries, big) as usize);
    let mut extra: Vec<u8> = Vec::new();
    let extra_at = at + head + entry * entries.len() as u64 + nextsz;
    if big {
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    } else {
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    }
    for e in entries.iter() {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&(e.typ as u16).to_le_bytes());
        if big {
            out.extend_from_slice(&e.count.to_le_bytes());
        } else {
            out.extend_from_slice(&(e.count as u32).to_le_bytes());
        }
        if e.bytes.len() <= inline {
            let mut v = e.bytes.clone();
            v.resize(inline, 0);
            out.extend_from_slice(&v);
        } else {
            let off = extra_at + extra.len() as u64;
            if big {
                out.extend_from_slice(&off.to_le_bytes());
            } else {
                out.extend_from_slice(&(off as u32).to_le_bytes());
            }
            extra.extend_from_slice(&e.bytes);
            if extra.len() % 2 == 1 {
                extra.push(0);
            }
        }
    }
    if big {
        out.extend_from_slice(&next.to_le_bytes());
    } else {
        out.extend_from_slice(&(next as u32).to_le_bytes());
    }
    out.extend_from_slice(&extra);
    debug_assert_eq!(out.len() as u64, ifd_size(entries, big));
    out
}

/// The file header pointing at the first IFD.
pub(crate) fn header(first_ifd: u64, big: bool) -> Vec<u8> {
    let mut h = Vec::with_capacity(16);
    h.extend_from_slice(b"II");
    if big {
        h.extend_from_slice(&43u16.to_le_bytes());
        h.extend_from_slice(&8u16.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&first_ifd.to_le_bytes());
    } else {
        h.extend_from_slice(&42u16.to_le_bytes());
        h.extend_from_slice(&(first_ifd as u32).to_le_bytes());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_ifd_layout_inline_and_out_of_line() {
        let mut e = vec![
            Entry::shorts(tag::BITS_PER_SAMPLE, &[8, 8, 8]),
            Entry::short(tag::IMAGE_WIDTH, 300),
            Entry::ascii(tag::GDAL_NODATA, "0"),
        ];
        let bytes = write_ifd(&mut e, 8, 0, false);
        assert_eq!(bytes.len() as u64, ifd_size(&e, false));
        assert_eq!(u16::from_le_bytes([bytes[0], bytes[1]]), 3);
        // sorted: 256 first, inline value 300
        assert_eq!(u16::from_le_bytes([bytes[2], bytes[3]]), 256);
        assert_eq!(u16::from_le_bytes([bytes[10], bytes[11]]), 300);
        // 258 has 6 bytes: stored after the IFD (8 + 2 + 36 + 4 = 50)
        assert_eq!(u32::from_le_bytes(bytes[22..26].try_into().unwrap()), 50);
        assert_eq!(&bytes[42..44], &[8, 0]);
        // "0\0" fits inline
        assert_eq!(&bytes[34..36], b"0\0");
        assert_eq!(header(8, false), b"II\x2a\x00\x08\x00\x00\x00");
        assert_eq!(header(16, true).len(), 16);
    }

    #[test]
    fn bigtiff_entries_are_twenty_bytes() {
        let mut e = vec![Entry::offsets(tag::TILE_OFFSETS, &[1, 2], true)];
        let bytes = write_ifd(&mut e, 16, 0, true);
        assert_eq!(bytes.len(), 8 + 20 + 8 + 16);
        assert_eq!(u64::from_le_bytes(bytes[20..28].try_into().unwrap()), 16 + 36);
    }
}
