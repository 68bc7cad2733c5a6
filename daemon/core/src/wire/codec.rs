//! Bounds-checked big-endian reading and writing. Every read and write checks length first.

use super::WireError;

pub(super) struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }
    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.b.len() < n {
            return Err(WireError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    pub(super) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    pub(super) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(super) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(super) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub(super) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.b)
    }
}

pub(super) struct Writer<'a> {
    b: &'a mut [u8],
    n: usize,
}

impl<'a> Writer<'a> {
    pub(super) fn new(b: &'a mut [u8]) -> Self {
        Writer { b, n: 0 }
    }
    pub(super) fn len(&self) -> usize {
        self.n
    }
    pub(super) fn bytes(&mut self, s: &[u8]) -> Result<(), WireError> {
        let dst = self
            .b
            .get_mut(self.n..self.n + s.len())
            .ok_or(WireError::Buffer)?;
        dst.copy_from_slice(s);
        self.n += s.len();
        Ok(())
    }
    pub(super) fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.bytes(&[v])
    }
    pub(super) fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }
    pub(super) fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }
    pub(super) fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }
}
