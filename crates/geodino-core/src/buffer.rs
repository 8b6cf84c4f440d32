//! Typed pixel buffers laid out `(band, row, col)`.

use ndarray::{Array3, ArrayView3, ArrayViewMut3};

use crate::DataType;

/// A pixel type geodino reads and writes.
pub trait RasterElement:
    Copy + Default + Send + Sync + PartialOrd + std::fmt::Debug + 'static
{
    /// The matching [`DataType`].
    const DTYPE: DataType;
    /// Widen to `f64` (exact for every type but `u64`/`i64`, which geodino does not use).
    fn to_f64(self) -> f64;
    /// Narrow from `f64`: rounded to nearest and saturated for integer types, NaN → 0.
    fn from_f64(v: f64) -> Self;
    /// Wrap a typed array as a [`RasterBuffer`].
    fn wrap(a: Array3<Self>) -> RasterBuffer;
    /// Borrow the typed array of a [`RasterBuffer`] of this type.
    fn view(b: &RasterBuffer) -> Option<ArrayView3<'_, Self>>;
    /// Mutably borrow the typed array of a [`RasterBuffer`] of this type.
    fn view_mut(b: &mut RasterBuffer) -> Option<ArrayViewMut3<'_, Self>>;
    /// Take the typed array out of a [`RasterBuffer`] of this type.
    fn unwrap(b: RasterBuffer) -> Option<Array3<Self>>;
}

macro_rules! element {
    ($t:ty, $dt:ident, int) => {
        impl RasterElement for $t {
            const DTYPE: DataType = DataType::$dt;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                // `as` saturates and maps NaN to 0.
                v.round() as $t
            }
            fn wrap(a: Array3<Self>) -> RasterBuffer {
                RasterBuffer::$dt(a)
            }
            fn view(b: &RasterBuffer) -> Option<ArrayView3<'_, Self>> {
                match b {
                    RasterBuffer::$dt(a) => Some(a.view()),
                    _ => None,
                }
            }
            fn view_mut(b: &mut RasterBuffer) -> Option<ArrayViewMut3<'_, Self>> {
                match b {
                    RasterBuffer::$dt(a) => Some(a.view_mut()),
                    _ => None,
                }
            }
            fn unwrap(b: RasterBuffer) -> Option<Array3<Self>> {
                match b {
                    RasterBuffer::$dt(a) => Some(a),
                    _ => None,
                }
            }
        }
    };
    ($t:ty, $dt:ident, float) => {
        impl RasterElement for $t {
            const DTYPE: DataType = DataType::$dt;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn wrap(a: Array3<Self>) -> RasterBuffer {
                RasterBuffer::$dt(a)
            }
            fn view(b: &RasterBuffer) -> Option<ArrayView3<'_, Self>> {
                match b {
                    RasterBuffer::$dt(a) => Some(a.view()),
                    _ => None,
                }
            }
            fn view_mut(b: &mut RasterBuffer) -> Option<ArrayViewMut3<'_, Self>> {
                match b {
                    RasterBuffer::$dt(a) => Some(a.view_mut()),
                    _ => None,
                }
            }
            fn unwrap(b: RasterBuffer) -> Option<Array3<Self>> {
                match b {
                    RasterBuffer::$dt(a) => Some(a),
                    _ => None,
                }
            }
        }
    };
}

element!(u8, Uint8, int);
element!(i8, Int8, int);
element!(u16, Uint16, int);
element!(i16, Int16, int);
element!(u32, Uint32, int);
element!(i32, Int32, int);
element!(f32, Float32, float);
element!(f64, Float64, float);

/// Pixels of one window, `(band, row, col)`, in the dataset's native type.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum RasterBuffer {
    Uint8(Array3<u8>),
    Int8(Array3<i8>),
    Uint16(Array3<u16>),
    Int16(Array3<i16>),
    Uint32(Array3<u32>),
    Int32(Array3<i32>),
    Float32(Array3<f32>),
    Float64(Array3<f64>),
}

/// Run `$body` with `$a` bound to the typed array inside a [`RasterBuffer`].
#[macro_export]
macro_rules! with_buffer {
    ($buf:expr, $a:ident => $body:expr) => {
        match $buf {
            $crate::RasterBuffer::Uint8($a) => $body,
            $crate::RasterBuffer::Int8($a) => $body,
            $crate::RasterBuffer::Uint16($a) => $body,
            $crate::RasterBuffer::Int16($a) => $body,
            $crate::RasterBuffer::Uint32($a) => $body,
            $crate::RasterBuffer::Int32($a) => $body,
            $crate::RasterBuffer::Float32($a) => $body,
            $crate::RasterBuffer::Float64($a) => $body,
        }
    };
}

impl RasterBuffer {
    /// A buffer of `(bands, rows, cols)` filled with `fill` (converted to `dtype`).
    pub fn filled(dtype: DataType, shape: (usize, usize, usize), fill: f64) -> Self {
        fn f<T: RasterElement>(shape: (usize, usize, usize), fill: f64) -> RasterBuffer {
            T::wrap(Array3::from_elem(shape, T::from_f64(fill)))
        }
        match dtype {
            DataType::Uint8 => f::<u8>(shape, fill),
            DataType::Int8 => f::<i8>(shape, fill),
            DataType::Uint16 => f::<u16>(shape, fill),
            DataType::Int16 => f::<i16>(shape, fill),
            DataType::Uint32 => f::<u32>(shape, fill),
            DataType::Int32 => f::<i32>(shape, fill),
            DataType::Float32 => f::<f32>(shape, fill),
            DataType::Float64 => f::<f64>(shape, fill),
        }
    }

    /// The data type of the pixels.
    pub fn dtype(&self) -> DataType {
        match self {
            RasterBuffer::Uint8(_) => DataType::Uint8,
            RasterBuffer::Int8(_) => DataType::Int8,
            RasterBuffer::Uint16(_) => DataType::Uint16,
            RasterBuffer::Int16(_) => DataType::Int16,
            RasterBuffer::Uint32(_) => DataType::Uint32,
            RasterBuffer::Int32(_) => DataType::Int32,
            RasterBuffer::Float32(_) => DataType::Float32,
            RasterBuffer::Float64(_) => DataType::Float64,
        }
    }

    /// `(bands, rows, cols)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        with_buffer!(self, a => a.dim())
    }

    /// All pixels widened to `f32`, `(band, row, col)`.
    pub fn to_f32(&self) -> Array3<f32> {
        with_buffer!(self, a => a.mapv(|v| v.to_f64() as f32))
    }

    /// All pixels widened to `f64`, `(band, row, col)`.
    pub fn to_f64(&self) -> Array3<f64> {
        with_buffer!(self, a => a.mapv(|v| v.to_f64()))
    }

    /// Convert to another data type (rounded and saturated for integer targets).
    pub fn cast(&self, dtype: DataType) -> RasterBuffer {
        if dtype == self.dtype() {
            return self.clone();
        }
        fn f<T: RasterElement>(src: &RasterBuffer) -> RasterBuffer {
            T::wrap(with_buffer!(src, a => a.mapv(|v| T::from_f64(v.to_f64()))))
        }
        match dtype {
            DataType::Uint8 => f::<u8>(self),
            DataType::Int8 => f::<i8>(self),
            DataType::Uint16 => f::<u16>(self),
            DataType::Int16 => f::<i16>(self),
            DataType::Uint32 => f::<u32>(self),
            DataType::Int32 => f::<i32>(self),
            DataType::Float32 => f::<f32>(self),
            DataType::Float64 => f::<f64>(self),
        }
    }

    /// Copy `src` (same dtype, `(bands, h, w)`) into `self` at `(row, col)`; the caller
    /// guarantees it fits.
    ///
    /// # Panics
    /// If the data types differ or `src` does not fit.
    pub fn paste(&mut self, src: &RasterBuffer, row: usize, col: usize) {
        use ndarray::s;
        fn go<T: RasterElement>(
            dst: &mut RasterBuffer,
            src: &RasterBuffer,
            row: usize,
            col: usize,
        ) {
            let s = T::view(src).expect("paste: data types differ");
            let (_, h, w) = s.dim();
            let mut d = T::view_mut(dst).expect("paste: data types differ");
            d.slice_mut(s![.., row..row + h, col..col + w]).assign(&s);
        }
        match self.dtype() {
            DataType::Uint8 => go::<u8>(self, src, row, col),
            DataType::Int8 => go::<i8>(self, src, row, col),
            DataType::Uint16 => go::<u16>(self, src, row, col),
            DataType::Int16 => go::<i16>(self, src, row, col),
            DataType::Uint32 => go::<u32>(self, src, row, col),
            DataType::Int32 => go::<i32>(self, src, row, col),
            DataType::Float32 => go::<f32>(self, src, row, col),
            DataType::Float64 => go::<f64>(self, src, row, col),
        }
    }

    /// Sum of all pixels of band `band`, skipping NaN and (if given) nodata.
    pub fn band_sum(&self, band: usize, nodata: Option<crate::NoData>) -> f64 {
        with_buffer!(self, a => {
            let mut s = 0.0f64;
            for &v in a.index_axis(ndarray::Axis(0), band).iter() {
                let x = v.to_f64();
                if x.is_nan() || nodata.is_some_and(|n| n.matches(x)) {
                    continue;
                }
                s += x;
            }
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_saturates_and_rounds() {
        let b = RasterBuffer::Float32(
            Array3::from_shape_vec((1, 1, 4), vec![-3.0, 1.6, 300.0, f32::NAN]).unwrap(),
        );
        let u = b.cast(DataType::Uint8);
        assert_eq!(
            u,
            RasterBuffer::Uint8(Array3::from_shape_vec((1, 1, 4), vec![0, 2, 255, 0]).unwrap())
        );
        assert_eq!(u.shape(), (1, 1, 4));
        assert_eq!(b.band_sum(0, None), -3.0 + 1.6f32 as f64 + 300.0);
        assert_eq!(u.band_sum(0, Some(crate::NoData(255.0))), 2.0);
    }

    #[test]
    fn paste_places_a_block() {
        let mut dst = RasterBuffer::filled(DataType::Uint16, (2, 4, 4), 7.0);
        let src = RasterBuffer::filled(DataType::Uint16, (2, 2, 3), 1.0);
        dst.paste(&src, 1, 1);
        let a = u16::view(&dst).unwrap();
        assert_eq!(a[[1, 1, 1]], 1);
        assert_eq!(a[[1, 2, 3]], 1);
        assert_eq!(a[[0, 0, 0]], 7);
        assert_eq!(a[[0, 3, 1]], 7);
        assert_eq!(dst.band_sum(0, None), 7.0 * 10.0 + 6.0);
    }
}
