//! [`BoxSink`]: the box's one decoder output — a plain [`Sink`] (`--sink` URI) or a hardware
//! decoder ([`DecoderSink`]) chosen by the `dvb` config key (Linux DVB, mainline or Enigma2
//! set-up), with one interface for the run loop.
//!
//! `dvb` wins over `--sink` (a board profile names the decoder; a URI given as well is ignored
//! with a warning). Both kinds are non-blocking, take any number of bytes (partial packets are
//! fine: the caller hands the rest next), and [`BoxSink::flush`] drops what a decoder holds
//! queued in the kernel at a zap (plain sinks hold nothing in user space).
//!
//! Invariant: the same contract as [`Sink`] — `write` never blocks, never panics, returns at
//! most the bytes given, 0 for "not now".

#[cfg(feature = "amstream")]
use super::amstream::{open_amstream, Amstream, LinuxAm};
use super::decoder::DecoderSink;
use super::dvb::{open_dvb, Dvb, DvbConfig, LinuxDmx};
use super::sink::Sink;
use super::uri::SinkUri;
use crate::reactor::{Reactor, Token};
use tvmesh_core::time::Instant;

/// The box's output. See the module documentation.
pub enum BoxSink {
    /// A file, FIFO, device, command or UDP target.
    Plain(Sink),
    /// A Linux DVB demux + dvr, programmed from the stream's PAT/PMT.
    Dvb(Box<DecoderSink<Dvb<LinuxDmx>>>),
    /// The Amlogic amstream decoder, programmed from the stream's PAT/PMT.
    #[cfg(feature = "amstream")]
    Am(Box<DecoderSink<Amstream<LinuxAm>>>),
}

/// Calls `$f` on whichever decoder sink `$self` is (every variant has the same methods).
macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            BoxSink::Plain($s) => $e,
            BoxSink::Dvb($s) => $e,
            #[cfg(feature = "amstream")]
            BoxSink::Am($s) => $e,
        }
    };
}

impl BoxSink {
    /// The configured output: the DVB decoder if `dvb` is set, else the `--sink` URI, else none.
    pub fn open(
        dvb: Option<&DvbConfig>,
        amstream: bool,
        uri: Option<&SinkUri>,
        now: Instant,
    ) -> Option<BoxSink> {
        #[cfg(feature = "amstream")]
        if amstream {
            return Some(BoxSink::Am(Box::new(open_amstream(now))));
        }
        // Config refuses `amstream = yes` in a build without the feature (config/viewer.rs).
        let _ = amstream;
        match (dvb, uri) {
            (Some(d), u) => {
                if u.is_some() {
                    log::warn!("both dvb and sink are set: writing to the DVB decoder");
                }
                Some(BoxSink::Dvb(Box::new(open_dvb(d, now))))
            }
            (None, Some(u)) => Some(BoxSink::Plain(Sink::open(u, now))),
            (None, None) => None,
        }
    }

    /// Registers the output under `token` (write interest only while wanted).
    pub fn register(&mut self, reactor: &Reactor, token: Token) {
        each!(self, s => s.register(reactor, token))
    }

    /// Asks for (or stops asking for) writability.
    pub fn want_write(&mut self, reactor: &Reactor, on: bool) {
        each!(self, s => s.want_write(reactor, on))
    }

    /// Writes what the output takes now.
    pub fn write(&mut self, now: Instant, reactor: &Reactor, bytes: &[u8]) -> usize {
        match self {
            BoxSink::Plain(s) => s.write(now, bytes),
            BoxSink::Dvb(d) => d.write(now, reactor, bytes),
            #[cfg(feature = "amstream")]
            BoxSink::Am(d) => d.write(now, reactor, bytes),
        }
    }

    /// When `service` should run.
    pub fn next_wakeup(&self) -> Option<Instant> {
        each!(self, s => s.next_wakeup())
    }

    /// Whether the output is open.
    pub fn is_open(&self) -> bool {
        each!(self, s => s.is_open())
    }

    /// Reopens, reaps, retries when due.
    pub fn service(&mut self, now: Instant, reactor: &Reactor) {
        each!(self, s => s.service(now, reactor))
    }

    /// At a zap: drops what the decoder holds and learns PAT/PMT again from the new channel.
    /// `true` when the output's stream starts over (the rest of a packet begun before must not
    /// be written: the decoder counts packets from the flush).
    pub fn flush(&mut self) -> bool {
        match self {
            BoxSink::Dvb(d) => {
                d.flush();
                true
            }
            #[cfg(feature = "amstream")]
            BoxSink::Am(d) => {
                d.flush();
                true
            }
            BoxSink::Plain(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::dvb::DvbSetup;

    #[test]
    fn dvb_wins_and_a_missing_adapter_only_retries() {
        let reactor = Reactor::new(8).unwrap();
        let now = Instant::from_millis(1);
        // Adapter 255 does not exist here: the sink stays closed and asks to retry, never fails.
        let cfg = DvbConfig {
            adapter: 255,
            demux: 0,
            dvr: 0,
            setup: DvbSetup::Mainline,
        };
        let uri: SinkUri = "file:/dev/null".parse().unwrap();
        let mut s = BoxSink::open(Some(&cfg), false, Some(&uri), now).unwrap();
        assert!(matches!(s, BoxSink::Dvb(_)));
        s.register(&reactor, 1);
        assert!(!s.is_open());
        assert_eq!(s.write(now, &reactor, &[0x47; 188]), 0);
        assert!(s.next_wakeup().is_some());
        assert!(s.flush());
        let mut p = BoxSink::open(None, false, Some(&uri), now).unwrap();
        assert!(p.is_open());
        assert_eq!(p.write(now, &reactor, &[0x47; 188]), 188);
        assert!(BoxSink::open(None, false, None, now).is_none());
    }
}
