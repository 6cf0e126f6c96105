//! Fixed-window request budgets (implementation in progress).
