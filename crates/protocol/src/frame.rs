//! Length-prefixed framing (check-then-split; no allocation until a frame is whole).

use bytes::{Buf, Bytes, BytesMut};

/// Kafka's `socket.request.max.bytes` default.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 104_857_600;

/// A frame size that makes the stream unrecoverable; the connection must close.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("negative frame size {0}")]
    Negative(i32),
    #[error("frame size {size} exceeds socket.request.max.bytes ({max})")]
    TooLarge { size: usize, max: usize },
}

/// Splits one complete frame (without its size prefix) off the front of `buf`, or returns
/// `Ok(None)` if more bytes are needed. The frame size is checked as soon as the four prefix
/// bytes are present, so an oversize request is refused before its body is buffered.
pub fn try_split_frame(buf: &mut BytesMut, max_size: usize) -> Result<Option<Bytes>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    let size = size as usize;
    if size > max_size {
        return Err(FrameError::TooLarge {
            size,
            max: max_size,
        });
    }
    if buf.len() < 4 + size {
        buf.reserve(4 + size - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_whole_frames_and_waits_for_partial_ones() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&3i32.to_be_bytes());
        buf.extend_from_slice(b"ab");
        assert_eq!(try_split_frame(&mut buf, 100), Ok(None));
        buf.extend_from_slice(b"c");
        buf.extend_from_slice(&1i32.to_be_bytes());
        assert_eq!(
            try_split_frame(&mut buf, 100),
            Ok(Some(Bytes::from_static(b"abc")))
        );
        assert_eq!(try_split_frame(&mut buf, 100), Ok(None));
        buf.extend_from_slice(b"z");
        assert_eq!(
            try_split_frame(&mut buf, 100),
            Ok(Some(Bytes::from_static(b"z")))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_negative_and_oversize() {
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert_eq!(
            try_split_frame(&mut buf, 100),
            Err(FrameError::Negative(-1))
        );
        let mut buf = BytesMut::from(&101i32.to_be_bytes()[..]);
        assert_eq!(
            try_split_frame(&mut buf, 100),
            Err(FrameError::TooLarge {
                size: 101,
                max: 100
            })
        );
    }
}
