//! Just enough of the embedded consumer protocol (`ConsumerProtocolSubscription`) to know
//! which topics a consumer group subscribes to (OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC,
//! offset expiry). Every version starts `version: int16, topics: [string]` and is never
//! flexible; later fields are ignored.

/// `protocol_type` of Kafka consumers.
pub const PROTOCOL_TYPE: &str = "consumer";

/// The subscribed topics, or `None` if the bytes are not a subscription.
pub fn subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut buf = metadata;
    let version = take_i16(&mut buf)?;
    if version < 0 {
        return None;
    }
    let count = take_i32(&mut buf)?;
    if count < 0 {
        return None;
    }
    let mut topics = Vec::with_capacity((count as usize).min(1024));
    for _ in 0..count {
        let len = take_i16(&mut buf)?;
        if len < 0 {
            return None;
        }
        let len = len as usize;
        if buf.len() < len {
            return None;
        }
        let (name, rest) = buf.split_at(len);
        topics.push(String::from_utf8(name.to_vec()).ok()?);
        buf = rest;
    }
    Some(topics)
}

fn take_i16(buf: &mut &[u8]) -> Option<i16> {
    if buf.len() < 2 {
        return None;
    }
    let v = i16::from_be_bytes([buf[0], buf[1]]);
    *buf = &buf[2..];
    Some(v)
}

fn take_i32(buf: &mut &[u8]) -> Option<i32> {
    if buf.len() < 4 {
        return None;
    }
    let v = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    *buf = &buf[4..];
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v0_and_later_versions() {
        let mut b = vec![0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c'];
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // user data: null
        assert_eq!(
            subscription_topics(&b),
            Some(vec!["a".to_string(), "bc".to_string()])
        );
        assert_eq!(subscription_topics(&[0, 0, 0, 0, 0, 5, 0]), None);
        assert_eq!(subscription_topics(&[]), None);
    }
}
