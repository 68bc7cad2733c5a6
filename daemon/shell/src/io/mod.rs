//! Sources (where a root reads a channel) and sinks (where a box writes it). Owned by the I/O work.
