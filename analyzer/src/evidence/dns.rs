//! DNS responses (placeholder: filled in next).
