//! NAT traversal building blocks, sans-IO: the root's STUN Binding responder ([`server`]), the
//! box's RFC 5780 NAT classifier ([`classify`]) and the hole-punch session with its INTRODUCE /
//! PUNCH / PUNCH_ACK bodies and the relay byte budget ([`punch`]), with the birthday-paradox
//! sweep for a cone ↔ symmetric pair ([`birthday`]).
//!
//! Like the rest of the core, nothing here owns a socket or reads a clock: addresses, bytes and
//! [`Instant`](crate::time::Instant)s come in, datagrams to send come out through caller buffers.
//! The STUN codec itself is [`crate::stun`].

pub mod birthday;
pub mod classify;
pub mod punch;
pub mod report;
pub mod server;

pub use classify::{Classifier, ClassifyConfig, Filtering, Mapping, NatReport};
pub use punch::{Introduce, Punch, PunchConfig, PunchEvent, RelayBudget};
pub use server::{Answer, Credits, Local, ServerAddrs, ServerError};
