//! Compression codecs for the records blob of a v2 batch.
//!
//! Each codec produces and accepts exactly what the Java client writes, so batches built here
//! are readable by every Kafka client and batches from any client are readable here:
//!
//! * gzip: a gzip stream (flate2); several concatenated members are accepted on decode, as
//!   Java's `GZIPInputStream` does.
//! * snappy: Java writes snappy-java's **Xerial** framing (`SnappyOutputStream`): an 8-byte
//!   magic, two big-endian i32 version words, then `[i32 length][raw snappy block]` chunks.
//!   librdkafka and others may send a plain raw snappy block instead. Decode detects the
//!   magic and accepts both; encode writes Xerial framing.
//! * lz4: the LZ4 *frame* format (KIP-57: Kafka fixed its header checksum in v0.10), 64 KiB
//!   independent blocks, no block checksum, no content checksum — what
//!   `KafkaLZ4BlockOutputStream` writes.
//! * zstd: a standard zstd frame (level 3, Kafka's default).
//!
//! Decompression is bounded: output larger than [`MAX_DECOMPRESSED_BYTES`] is refused, so a
//! small hostile batch (a "decompression bomb") cannot exhaust memory. No codec trusts a size
//! announced by the input before checking it against that bound.

use std::io::{Read, Write};

use crate::RecordsError;

/// Largest decompressed records blob accepted (256 MiB).
pub const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// snappy-java's stream header magic (`SnappyCodec.MAGIC_HEADER`).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic plus the two version words (`DEFAULT_VERSION`, `MINIMUM_COMPATIBLE_VERSION`).
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's default block size for `SnappyOutputStream` (32 KiB).
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// Kafka's zstd level when none is configured.
const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// The codec in bits 0-2 of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// Every codec, for tests and benches that iterate over them.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    pub fn from_id(id: i16) -> Option<Self> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Compresses `data` the way the Java producer does for this codec.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>, RecordsError> {
        match self {
            Compression::None => Ok(data.to_vec()),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(data.len() / 2 + 64),
                    flate2::Compression::default(),
                );
                enc.write_all(data).map_err(|e| codec_error(self, e))?;
                enc.finish().map_err(|e| codec_error(self, e))
            }
            Compression::Snappy => xerial_compress(data),
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent)
                    .block_checksums(false)
                    .content_checksum(false);
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(
                    info,
                    Vec::with_capacity(data.len() / 2 + 64),
                );
                enc.write_all(data).map_err(|e| codec_error(self, e))?;
                enc.finish().map_err(|e| codec_error(self, e))
            }
            Compression::Zstd => {
                zstd::bulk::compress(data, ZSTD_DEFAULT_LEVEL).map_err(|e| codec_error(self, e))
            }
        }
    }

    /// Decompresses `data`, refusing output above [`MAX_DECOMPRESSED_BYTES`].
    pub fn decompress(self, data: &[u8]) -> Result<Vec<u8>, RecordsError> {
        self.decompress_bounded(data, MAX_DECOMPRESSED_BYTES)
    }

    /// Decompresses `data`, refusing output above `limit` bytes.
    pub fn decompress_bounded(self, data: &[u8], limit: usize) -> Result<Vec<u8>, RecordsError> {
        match self {
            Compression::None => {
                if data.len() > limit {
                    return Err(too_large(self, limit));
                }
                Ok(data.to_vec())
            }
            Compression::Gzip => read_bounded(self, flate2::read::MultiGzDecoder::new(data), limit),
            Compression::Snappy => {
                if data.starts_with(&XERIAL_MAGIC) {
                    xerial_decompress(data, limit)
                } else {
                    let mut out = Vec::new();
                    snappy_block_into(data, limit, &mut out)?;
                    Ok(out)
                }
            }
            Compression::Lz4 => read_bounded(self, lz4_flex::frame::FrameDecoder::new(data), limit),
            Compression::Zstd => {
                let dec =
                    zstd::stream::read::Decoder::new(data).map_err(|e| codec_error(self, e))?;
                read_bounded(self, dec, limit)
            }
        }
    }
}

/// Reads a decoder to its end, failing once it yields more than `limit` bytes.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    limit: usize,
) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    // One byte more than allowed tells "exactly at the limit" from "over it".
    let cap = (limit as u64).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| codec_error(codec, e))?;
    if out.len() > limit {
        return Err(too_large(codec, limit));
    }
    Ok(out)
}

/// Appends one raw snappy block's output to `out`, checking the announced length first.
fn snappy_block_into(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), RecordsError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| codec_error(codec, e))?;
    if len > limit.saturating_sub(out.len()) {
        return Err(too_large(codec, limit));
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| codec_error(codec, e))?;
    out.truncate(start + written);
    Ok(())
}

fn xerial_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Snappy;
    if data.len() < XERIAL_HEADER_LEN {
        return Err(codec_error(codec, "truncated xerial snappy header"));
    }
    let mut out = Vec::new();
    let mut rest = &data[XERIAL_HEADER_LEN..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(codec_error(codec, "truncated xerial snappy chunk length"));
        }
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let len = usize::try_from(len).map_err(|_| {
            codec_error(codec, format!("negative xerial snappy chunk length {len}"))
        })?;
        rest = &rest[4..];
        if rest.len() < len {
            return Err(codec_error(
                codec,
                format!(
                    "xerial snappy chunk of {len} bytes but only {} remain",
                    rest.len()
                ),
            ));
        }
        snappy_block_into(&rest[..len], limit, &mut out)?;
        rest = &rest[len..];
    }
    Ok(out)
}

fn xerial_compress(data: &[u8]) -> Result<Vec<u8>, RecordsError> {
    let codec = Compression::Snappy;
    let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + data.len() / 2 + 64);
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes()); // version
    out.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
    let mut encoder = snap::raw::Encoder::new();
    let mut scratch = vec![0u8; snap::raw::max_compress_len(XERIAL_BLOCK_SIZE)];
    for chunk in data.chunks(XERIAL_BLOCK_SIZE) {
        let n = encoder
            .compress(chunk, &mut scratch)
            .map_err(|e| codec_error(codec, e))?;
        // n <= max_compress_len(32 KiB), far below i32::MAX.
        out.extend_from_slice(&(n as i32).to_be_bytes());
        out.extend_from_slice(&scratch[..n]);
    }
    Ok(out)
}

fn too_large(codec: Compression, limit: usize) -> RecordsError {
    codec_error(
        codec,
        format!("decompressed size exceeds the limit of {limit} bytes"),
    )
}

fn codec_error(codec: Compression, e: impl std::fmt::Display) -> RecordsError {
    RecordsError::Codec {
        codec: codec.name(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn round_trip_every_codec() {
        let data = sample();
        for c in Compression::ALL {
            let z = c.compress(&data).unwrap();
            assert_eq!(c.decompress(&z).unwrap(), data, "{}", c.name());
            assert_eq!(
                c.decompress(&c.compress(&[]).unwrap()).unwrap(),
                Vec::<u8>::new()
            );
        }
    }

    #[test]
    fn snappy_accepts_raw_block_and_xerial() {
        let data = sample();
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(Compression::Snappy.decompress(&raw).unwrap(), data);
        let framed = Compression::Snappy.compress(&data).unwrap();
        assert!(framed.starts_with(&XERIAL_MAGIC));
        assert_eq!(&framed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(Compression::Snappy.decompress(&framed).unwrap(), data);
    }

    #[test]
    fn lz4_frame_header_is_kafka_compatible() {
        let z = Compression::Lz4.compress(b"hello hello hello").unwrap();
        assert_eq!(&z[..4], &[0x04, 0x22, 0x4d, 0x18]); // LZ4 frame magic, little-endian
                                                        // FLG: version 01, block independence set, no checksums, no content size.
        assert_eq!(z[4], 0b0110_0000);
        // BD: 64 KiB max block size.
        assert_eq!(z[5], 0x40);
    }

    #[test]
    fn decompression_is_bounded() {
        let zeros = vec![0u8; 1 << 20];
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let z = c.compress(&zeros).unwrap();
            assert!(c.decompress_bounded(&z, 1 << 20).is_ok());
            let err = c.decompress_bounded(&z, (1 << 20) - 1).unwrap_err();
            assert!(err.to_string().contains("exceeds"), "{}: {err}", c.name());
        }
        // A raw snappy block announcing 4 GiB is refused before allocating.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(Compression::Snappy.decompress(&bomb).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for c in Compression::ALL {
            let _ = c.decompress(b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x7f\xff\xff\xff");
            let _ = c.decompress(&[0x04, 0x22, 0x4d, 0x18, 0xff, 0xff, 0xff]);
            let _ = c.decompress(&[]);
        }
    }
}
