//! The compact (flexible-version) wire format of the admin messages: [`Writer`] and
//! [`Reader`] for varints, compact strings, bytes and arrays, and tagged-field sections.
//!
//! Invariants: a [`Reader`] never panics on short or malformed input; every error is a
//! [`ProtocolError`] naming the message being decoded. Unknown tagged fields are skipped.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::ProtocolError;

/// Writes one tagged field's value (see [`Writer::tagged`]).
pub type TagWriter<'a> = Box<dyn FnOnce(&mut Writer) + 'a>;

/// Compact-format writer.
#[derive(Default)]
pub struct Writer {
    pub buf: BytesMut,
}

impl Writer {
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }
    pub fn bool(&mut self, v: bool) {
        self.buf.put_u8(u8::from(v));
    }
    pub fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }
    pub fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }
    pub fn string(&mut self, v: &str) {
        self.uvarint(v.len() as u64 + 1);
        self.buf.put_slice(v.as_bytes());
    }
    pub fn nullable_string(&mut self, v: Option<&str>) {
        match v {
            None => self.uvarint(0),
            Some(s) => self.string(s),
        }
    }
    pub fn array<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.uvarint(items.len() as u64 + 1);
        for i in items {
            each(self, i);
        }
    }
    pub fn nullable_array<T>(&mut self, items: Option<&[T]>, each: impl FnMut(&mut Self, &T)) {
        match items {
            None => self.uvarint(0),
            Some(items) => self.array(items, each),
        }
    }
    /// The (empty) tagged-field section that ends every struct.
    pub fn tags(&mut self) {
        self.uvarint(0);
    }
    /// A tagged-field section with the given `(tag, field writer)` entries, in tag order;
    /// `None` entries are left out.
    pub fn tagged(&mut self, fields: Vec<(u64, Option<TagWriter<'_>>)>) {
        let fields: Vec<_> = fields
            .into_iter()
            .filter_map(|(t, f)| f.map(|f| (t, f)))
            .collect();
        self.uvarint(fields.len() as u64);
        for (tag, f) in fields {
            let mut inner = Writer::default();
            f(&mut inner);
            self.uvarint(tag);
            self.uvarint(inner.buf.len() as u64);
            self.buf.put_slice(&inner.buf);
        }
    }
}

/// Compact-format reader; every error names the message being decoded.
pub struct Reader<'a> {
    pub(super) buf: &'a mut Bytes,
    pub(super) what: &'static str,
}

impl Reader<'_> {
    pub(super) fn err(&self, message: impl Into<String>) -> ProtocolError {
        ProtocolError::Malformed {
            what: self.what.to_string(),
            message: message.into(),
        }
    }
    fn need(&self, n: usize) -> Result<(), ProtocolError> {
        if self.buf.remaining() < n {
            return Err(self.err(format!(
                "needed {n} more bytes, {} left",
                self.buf.remaining()
            )));
        }
        Ok(())
    }
    fn uvarint(&mut self) -> Result<u64, ProtocolError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            self.need(1)?;
            let b = self.buf.get_u8();
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }
    pub fn bool(&mut self) -> Result<bool, ProtocolError> {
        self.need(1)?;
        Ok(self.buf.get_u8() != 0)
    }
    pub fn i8(&mut self) -> Result<i8, ProtocolError> {
        self.need(1)?;
        Ok(self.buf.get_i8())
    }
    pub fn i16(&mut self) -> Result<i16, ProtocolError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }
    pub fn i32(&mut self) -> Result<i32, ProtocolError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }
    pub fn i64(&mut self) -> Result<i64, ProtocolError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }
    fn len(&mut self) -> Result<Option<usize>, ProtocolError> {
        match self.uvarint()? {
            0 => Ok(None),
            n => {
                let n = usize::try_from(n - 1).map_err(|_| self.err("length overflows"))?;
                if n > self.buf.remaining() {
                    return Err(self.err(format!(
                        "length {n} exceeds the {} bytes left",
                        self.buf.remaining()
                    )));
                }
                Ok(Some(n))
            }
        }
    }
    pub fn nullable_string(&mut self) -> Result<Option<String>, ProtocolError> {
        let Some(n) = self.len()? else {
            return Ok(None);
        };
        let bytes = self.buf.split_to(n);
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| self.err("string is not UTF-8"))
    }
    pub fn string(&mut self) -> Result<String, ProtocolError> {
        self.nullable_string()?
            .ok_or_else(|| self.err("null where a string is required"))
    }
    pub fn nullable_array<T>(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<T, ProtocolError>,
    ) -> Result<Option<Vec<T>>, ProtocolError> {
        let Some(n) = self.len()? else {
            return Ok(None);
        };
        // Each element takes at least one byte, which `len` already bounded.
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(each(self)?);
        }
        Ok(Some(out))
    }
    pub fn array<T>(
        &mut self,
        each: impl FnMut(&mut Self) -> Result<T, ProtocolError>,
    ) -> Result<Vec<T>, ProtocolError> {
        self.nullable_array(each)?
            .ok_or_else(|| self.err("null where an array is required"))
    }
    /// Skips a tagged-field section.
    pub fn tags(&mut self) -> Result<(), ProtocolError> {
        self.tags_with(|_, _| Ok(()))
    }
    /// Reads a tagged-field section, handing each field to `known` (tag, a reader over the
    /// field's bytes only); fields `known` does not read are skipped.
    pub fn tags_with(
        &mut self,
        mut known: impl FnMut(u64, &mut Reader) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size =
                usize::try_from(self.uvarint()?).map_err(|_| self.err("tag size overflows"))?;
            self.need(size)?;
            let mut field = self.buf.split_to(size);
            let mut inner = Reader {
                buf: &mut field,
                what: self.what,
            };
            known(tag, &mut inner)?;
        }
        Ok(())
    }
}
