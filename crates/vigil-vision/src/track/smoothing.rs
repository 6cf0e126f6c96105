//! Label smoothing: the majority mask label over a track's last few observations.
//!
//! A single frame's classifier verdict flickers (motion blur, a hand in front of the
//! mouth, a head turned away); the seed system voted over the last 10 frames, and so do we.

use std::collections::VecDeque;

use serde::Serialize;

use crate::result::{MaskLabel, MaskResult};

/// A track's label after smoothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SmoothedLabel {
    /// The majority label over the window.
    pub label: MaskLabel,
    /// Mean classifier score of the observations that voted for `label`, in `[0, 1]`:
    /// how sure the classifier was when it agreed with the majority.
    pub score: f32,
    /// Number of observations in the window (votes counted).
    pub votes: usize,
}

/// The last `capacity` mask verdicts of one track.
#[derive(Debug, Clone)]
pub struct LabelWindow {
    capacity: usize,
    window: VecDeque<MaskResult>,
}

impl LabelWindow {
    /// An empty window keeping the last `capacity` verdicts (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            window: VecDeque::with_capacity(capacity),
        }
    }

    /// Adds a verdict, dropping the oldest when the window is full.
    pub fn push(&mut self, verdict: MaskResult) {
        if self.window.len() == self.capacity {
            self.window.pop_front();
        }
        self.window.push_back(verdict);
    }

    /// Number of verdicts held.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// True before the first verdict.
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// The majority label and its mean score; `None` when empty.
    pub fn smoothed(&self) -> Option<SmoothedLabel> {
        majority(self.window.iter().copied())
    }
}

/// Running counts of mask / no-mask verdicts with their summed scores: the majority
/// label over a whole track's lifetime without keeping every verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LabelTally {
    mask: usize,
    no_mask: usize,
    mask_score: f32,
    no_mask_score: f32,
}

impl LabelTally {
    /// Counts one verdict.
    pub fn add(&mut self, v: MaskResult) {
        match v.label {
            MaskLabel::Mask => {
                self.mask += 1;
                self.mask_score += v.score;
            }
            MaskLabel::NoMask => {
                self.no_mask += 1;
                self.no_mask_score += v.score;
            }
        }
    }

    /// The majority label and the mean score of its votes; `None` before any verdict.
    ///
    /// A tie goes to the side with the higher summed score (the classifier was surer of
    /// it); an exact tie on both counts goes to `Mask`, so that an undecidable track never
    /// raises a violation (a false accusation costs more than a missed one).
    pub fn majority(&self) -> Option<SmoothedLabel> {
        let votes = self.mask + self.no_mask;
        if votes == 0 {
            return None;
        }
        let no_mask_wins = self.no_mask > self.mask
            || (self.no_mask == self.mask && self.no_mask_score > self.mask_score);
        let (label, n, s) = if no_mask_wins {
            (MaskLabel::NoMask, self.no_mask, self.no_mask_score)
        } else {
            (MaskLabel::Mask, self.mask, self.mask_score)
        };
        Some(SmoothedLabel {
            label,
            score: s / n as f32,
            votes,
        })
    }
}

/// Majority vote over `verdicts` with the mean score of the winning side (ties as in
/// [`LabelTally::majority`]).
pub fn majority(verdicts: impl IntoIterator<Item = MaskResult>) -> Option<SmoothedLabel> {
    let mut tally = LabelTally::default();
    verdicts.into_iter().for_each(|v| tally.add(v));
    tally.majority()
}

#[cfg(test)]
mod tests {
    use super::*;
    use MaskLabel::{Mask as M, NoMask as N};

    fn v(label: MaskLabel, score: f32) -> MaskResult {
        MaskResult { label, score }
    }

    /// Input verdicts and the expected (label, mean score).
    type Case = (&'static [(MaskLabel, f32)], Option<(MaskLabel, f32)>);

    #[test]
    fn majority_table() {
        let cases: &[Case] = &[
            (&[], None),
            (&[(N, 0.9)], Some((N, 0.9))),
            (&[(N, 0.9), (N, 0.7), (M, 0.99)], Some((N, 0.8))),
            (&[(M, 0.6), (N, 0.9), (M, 0.8)], Some((M, 0.7))),
            // Ties: the surer side wins; a perfect tie is `mask`.
            (&[(M, 0.6), (N, 0.9)], Some((N, 0.9))),
            (&[(M, 0.9), (N, 0.6)], Some((M, 0.9))),
            (&[(M, 0.8), (N, 0.8)], Some((M, 0.8))),
        ];
        for (input, want) in cases {
            let got = majority(input.iter().map(|&(l, s)| v(l, s)));
            match (got, want) {
                (None, None) => {}
                (Some(g), Some((l, s))) => {
                    assert_eq!(g.label, *l, "{input:?}");
                    assert!((g.score - s).abs() < 1e-5, "{input:?}: {}", g.score);
                    assert_eq!(g.votes, input.len());
                }
                _ => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn window_keeps_only_the_last_verdicts() {
        let mut w = LabelWindow::new(3);
        assert!(w.is_empty() && w.smoothed().is_none());
        for _ in 0..5 {
            w.push(v(N, 0.9));
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.smoothed().unwrap().label, N);
        // Two masks push out two of the three no-masks: the majority flips.
        w.push(v(M, 0.8));
        w.push(v(M, 0.8));
        let s = w.smoothed().unwrap();
        assert_eq!((s.label, s.votes), (M, 3));
    }

    #[test]
    fn flickering_labels_give_the_majority() {
        // mask, no-mask, no-mask repeated: two thirds no-mask.
        let mut w = LabelWindow::new(10);
        for i in 0..30 {
            w.push(v(if i % 3 == 0 { M } else { N }, 0.9));
        }
        assert_eq!(w.smoothed().unwrap().label, N);
        // Strict alternation over an even window is a tie on counts and scores: mask.
        let mut w = LabelWindow::new(10);
        for i in 0..30 {
            w.push(v(if i % 2 == 0 { M } else { N }, 0.9));
        }
        assert_eq!(w.smoothed().unwrap().label, M);
    }
}
