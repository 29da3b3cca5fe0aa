//! What the writer knows of the log between its own commits: the head its last batch will leave
//! (the tip), and the versions its recent batches gave their streams (or that it read for streams
//! it did not know). With that, the next batch can be judged and chained before the one in
//! flight has committed, and sent without first locking the head and reading it back.
//!
//! Nothing here has to be right for the log to be. A batch chained onto a head that is no longer
//! there (another process appended, or the batch before it was refused) is refused whole by the
//! database (`append_batch`). The versions are lower bounds: an entry can fall behind the truth,
//! and runs ahead of it only for the streams of a batch that is then refused, when every batch
//! chained after that one is refused with it. A version that has fallen behind makes the batch
//! write a stream version that exists, which the unique index refuses. A request that looks like
//! a conflict is judged again under the head lock.

use std::collections::HashMap;

use super::plan::Head;
use crate::model::StreamRef;

/// Streams remembered before the older half is dropped.
const REMEMBERED_STREAMS: usize = 65_536;

#[derive(Default)]
pub(super) struct Sequencer {
    /// Where the last batch sent leaves the head; `None` until a batch has committed under the
    /// head lock, and again after a batch was refused.
    tip: Option<Head>,
    recent: HashMap<StreamRef, u64>,
    older: HashMap<StreamRef, u64>,
}

impl Sequencer {
    pub fn tip(&self) -> Option<Head> {
        self.tip
    }

    /// The remembered version of `stream`, if any.
    pub fn version(&self, stream: &StreamRef) -> Option<u64> {
        self.recent
            .get(stream)
            .or_else(|| self.older.get(stream))
            .copied()
    }

    /// A batch was sent chained onto the tip: the next one goes onto `head`.
    pub fn chain(&mut self, head: Head, versions: Vec<(StreamRef, u64)>) {
        self.tip = Some(head);
        self.remember(versions);
    }

    /// After a refused or failed batch: every batch chained after it fails too, and what is
    /// remembered may be ahead of the log.
    pub fn forget(&mut self) {
        *self = Sequencer::default();
    }

    /// Versions read from the log for streams it did not know: the log's own at that moment, which
    /// no batch of this writer had changed (it would know them), and which a batch of another
    /// process changes only by moving the head, so they are as good as the ones it wrote.
    pub fn learn(&mut self, versions: impl IntoIterator<Item = (StreamRef, u64)>) {
        self.remember(versions);
    }

    /// After a batch committed under the head lock, with nothing else in flight.
    pub fn committed_at(&mut self, head: Head, versions: Vec<(StreamRef, u64)>) {
        self.forget();
        self.chain(head, versions);
    }

    fn remember(&mut self, versions: impl IntoIterator<Item = (StreamRef, u64)>) {
        for (stream, version) in versions {
            if self.recent.len() >= REMEMBERED_STREAMS {
                self.older = std::mem::take(&mut self.recent);
            }
            self.older.remove(&stream);
            self.recent.insert(stream, version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn head(position: u64) -> Head {
        Head {
            position,
            hash: [position as u8; 32],
        }
    }

    #[test]
    fn nothing_is_chained_before_a_commit_under_the_lock_nor_after_a_refusal() {
        let mut sequencer = Sequencer::default();
        assert_eq!(sequencer.tip(), None);
        sequencer.committed_at(head(3), vec![]);
        assert_eq!(sequencer.tip(), Some(head(3)));
        sequencer.chain(head(5), vec![]);
        assert_eq!(sequencer.tip(), Some(head(5)));
        sequencer.forget();
        assert_eq!(sequencer.tip(), None);
    }

    #[test]
    fn versions_are_remembered_until_forgotten_and_the_oldest_go_first() {
        let mut sequencer = Sequencer::default();
        let first = StreamRef::new("deal", Uuid::now_v7());
        sequencer.committed_at(head(1), vec![(first.clone(), 1)]);
        assert_eq!(sequencer.version(&first), Some(1));
        sequencer.chain(head(2), vec![(first.clone(), 2)]);
        assert_eq!(sequencer.version(&first), Some(2));
        let others: Vec<_> = (0..2 * REMEMBERED_STREAMS as u64)
            .map(|n| (StreamRef::new("deal", Uuid::now_v7()), n + 1))
            .collect();
        let newest = others.last().cloned().expect("streams");
        sequencer.chain(head(3), others);
        assert_eq!(
            sequencer.version(&first),
            None,
            "dropped with the older half"
        );
        assert_eq!(sequencer.version(&newest.0), Some(newest.1));
        sequencer.forget();
        assert_eq!(sequencer.version(&newest.0), None);
    }
}
