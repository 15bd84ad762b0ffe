//! Turning blocks into index rows, with undo records, and reading them back.
