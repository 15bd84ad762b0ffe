//! Undo records: what one block's batch changed, so that unwinding the block
//! restores every key exactly (created keys deleted, overwritten keys given
//! back their old values).

use crate::codec::{take, Codec, CodecError};

/// One change to undo: in `table`, set `key` back to `old` (delete it when
/// `old` is `None`, because the block created it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoEntry {
    /// Index of the table in the schema's table list.
    pub table: u8,
    /// The encoded key.
    pub key: Vec<u8>,
    /// The encoded value before the block, or `None` if the block created the key.
    pub old: Option<Vec<u8>>,
}

/// The changes of one block's batch, in the order they were made; unwinding
/// applies them in reverse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoLog {
    /// The changes, oldest first.
    pub entries: Vec<UndoEntry>,
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("undo keys and values are far below 4 GiB");
    len.encode_to(out);
}

fn take_len(input: &mut &[u8]) -> Result<usize, CodecError> {
    Ok(u32::decode_from(input)? as usize)
}

impl Codec for UndoLog {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_len(out, self.entries.len());
        for entry in &self.entries {
            out.push(entry.table);
            put_len(out, entry.key.len());
            out.extend_from_slice(&entry.key);
            match &entry.old {
                None => out.push(0),
                Some(old) => {
                    out.push(1);
                    put_len(out, old.len());
                    out.extend_from_slice(old);
                }
            }
        }
    }

    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let count = take_len(input)?;
        let mut entries = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let table = u8::decode_from(input)?;
            let key_len = take_len(input)?;
            let key = take(input, key_len)?.to_vec();
            let old = match u8::decode_from(input)? {
                0 => None,
                1 => {
                    let len = take_len(input)?;
                    Some(take(input, len)?.to_vec())
                }
                _ => return Err(CodecError::Invalid { what: "undo entry tag" }),
            };
            entries.push(UndoEntry { table, key, old });
        }
        Ok(UndoLog { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_log_round_trips() {
        let log = UndoLog {
            entries: vec![
                UndoEntry { table: 2, key: vec![1, 2], old: None },
                UndoEntry { table: 0, key: vec![], old: Some(vec![9; 40]) },
            ],
        };
        assert_eq!(UndoLog::decode(&log.encode()), Ok(log));
        assert!(UndoLog::decode(&[0, 0, 0, 1, 2]).is_err());
    }
}
