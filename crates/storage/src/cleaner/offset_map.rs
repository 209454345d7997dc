//! The cleaner's key → latest-offset map, with the shape of Kafka's `SkimpyOffsetMap`:
//! one fixed buffer, allocated once per cleaner thread, of `slots` entries of
//! `16-byte key digest | 8-byte offset`, open addressing with linear probing.
//!
//! Memory never grows: `put` refuses a new key once `max_entries` (slots × load factor)
//! are used, and the cleaner then ends the pass at the last fully mapped segment. Keys are
//! stored only as digests, so two keys with equal digests would be confused; the digest is
//! the first 16 bytes of SHA-256 (Kafka uses MD5, whose collisions are easy to construct;
//! SHA-256's are not), which makes that practically impossible.

use sha2::{Digest, Sha256};

const HASH_SIZE: usize = 16;
const ENTRY_SIZE: usize = HASH_SIZE + 8;
/// Offset stored in an unused slot (real offsets are `>= 0`).
const EMPTY: i64 = -1;

/// Bounded map from key digest to the latest offset seen for that key.
pub struct OffsetMap {
    buf: Vec<u8>,
    slots: usize,
    max_entries: usize,
    entries: usize,
    /// Last offset of the last batch mapped (Kafka's `latestOffset`), -1 if none.
    latest_offset: i64,
}

impl std::fmt::Debug for OffsetMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetMap")
            .field("slots", &self.slots)
            .field("max_entries", &self.max_entries)
            .field("entries", &self.entries)
            .finish()
    }
}

fn digest(key: &[u8]) -> [u8; HASH_SIZE] {
    let full = Sha256::digest(key);
    let mut d = [0u8; HASH_SIZE];
    d.copy_from_slice(&full[..HASH_SIZE]);
    d
}

impl OffsetMap {
    /// A map using at most `memory_bytes` (rounded down to whole entries), filled to at most
    /// `load_factor` of its slots (`log.cleaner.io.buffer.load.factor`).
    pub fn new(memory_bytes: usize, load_factor: f64) -> OffsetMap {
        let slots = memory_bytes / ENTRY_SIZE;
        let factor = if load_factor.is_finite() {
            load_factor.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Leave one slot free so a probe for an absent key always ends.
        let max_entries = ((slots as f64 * factor) as usize).min(slots.saturating_sub(1));
        let mut map = OffsetMap {
            buf: vec![0u8; slots * ENTRY_SIZE],
            slots,
            max_entries,
            entries: 0,
            latest_offset: -1,
        };
        map.clear();
        map
    }

    /// How many distinct keys fit.
    pub fn capacity(&self) -> usize {
        self.max_entries
    }
    /// Keys currently mapped.
    pub fn len(&self) -> usize {
        self.entries
    }
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
    /// Bytes held by the map's buffer (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        self.buf.len()
    }
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }
    pub(crate) fn update_latest_offset(&mut self, offset: i64) {
        self.latest_offset = self.latest_offset.max(offset);
    }

    /// Forgets every key (the buffer is reused).
    pub fn clear(&mut self) {
        for entry in self.buf.chunks_exact_mut(ENTRY_SIZE) {
            entry[..HASH_SIZE].fill(0);
            entry[HASH_SIZE..].copy_from_slice(&EMPTY.to_be_bytes());
        }
        self.entries = 0;
        self.latest_offset = -1;
    }

    fn offset_at(&self, slot: usize) -> i64 {
        let at = slot * ENTRY_SIZE + HASH_SIZE;
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.buf[at..at + 8]);
        i64::from_be_bytes(b)
    }

    /// The slot holding `d`, or the empty slot where it would go.
    fn find(&self, d: &[u8; HASH_SIZE]) -> Option<usize> {
        if self.slots == 0 {
            return None;
        }
        let mut h = [0u8; 8];
        h.copy_from_slice(&d[..8]);
        let mut slot = (u64::from_be_bytes(h) % self.slots as u64) as usize;
        for _ in 0..self.slots {
            let at = slot * ENTRY_SIZE;
            if self.offset_at(slot) == EMPTY || self.buf[at..at + HASH_SIZE] == d[..] {
                return Some(slot);
            }
            slot = (slot + 1) % self.slots;
        }
        None
    }

    /// Records `offset` as the latest for `key`. `false` (nothing changed) when the key is
    /// new and the map already holds `capacity()` keys.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let d = digest(key);
        let Some(slot) = self.find(&d) else {
            return false;
        };
        let at = slot * ENTRY_SIZE;
        if self.offset_at(slot) == EMPTY {
            if self.entries >= self.max_entries {
                return false;
            }
            self.buf[at..at + HASH_SIZE].copy_from_slice(&d);
            self.entries += 1;
        }
        self.buf[at + HASH_SIZE..at + ENTRY_SIZE].copy_from_slice(&offset.to_be_bytes());
        true
    }

    /// The latest offset mapped for `key`, or -1.
    pub fn get(&self, key: &[u8]) -> i64 {
        match self.find(&digest(key)) {
            Some(slot) => self.offset_at(slot),
            None => EMPTY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_put_get_clear() {
        let mut m = OffsetMap::new(24 * 100, 0.5);
        assert_eq!(m.capacity(), 50);
        assert_eq!(m.memory_bytes(), 2400);
        for i in 0..50 {
            assert!(m.put(format!("k{i}").as_bytes(), i));
        }
        assert!(!m.put(b"new", 99), "full map refuses a new key");
        assert!(m.put(b"k3", 77), "an existing key can still be updated");
        assert_eq!(m.get(b"k3"), 77);
        assert_eq!(m.get(b"k49"), 49);
        assert_eq!(m.get(b"new"), -1);
        assert_eq!(m.len(), 50);
        m.clear();
        assert_eq!(m.get(b"k3"), -1);
        assert!(m.is_empty());
        let mut tiny = OffsetMap::new(10, 0.9);
        assert_eq!(tiny.capacity(), 0);
        assert!(!tiny.put(b"a", 1));
        let mut one = OffsetMap::new(24, 1.0);
        assert_eq!(one.capacity(), 0, "one slot stays free");
        assert!(!one.put(b"a", 1));
        assert_eq!(one.get(b"a"), -1);
    }
}
