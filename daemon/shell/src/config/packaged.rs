//! A root channel fed by a stream packaged ahead of time: `source=packaged:PATH|-` with
//! `keys=PATH` (the packager's key file, `tvmesh_core::drm::keyfile`).
//!
//! Checked here, before anything starts (a bad value exits 2 with the field and value named):
//! the two parts come together and exclude `protect` (the stream is scrambled already); the key
//! file parses and is for this channel; a packaged *file* is read through once — its header names
//! this channel, every record parses, sequence numbers increase, times do not go back, every
//! scrambled record's key id is the key file's at its time, and the file does not end inside a
//! record. Stdin (`packaged:-`) is checked as it plays (`io/source/packaged.rs`, and the root's
//! `handle_packaged`).

use super::{err, ConfigError, Setting};
use crate::io::uri::SourceUri;
use std::io::{BufReader, Read};
use std::path::Path;
use tvmesh_core::drm::keyfile::KeyFile;
use tvmesh_core::drm::package::{
    Header, PackageError, RecordCheck, RecordHeader, HEADER_MAX, RECORD_HEADER_LEN,
};

/// Checks a channel's `source`, `keys` and `protect` parts; returns the key file of a packaged
/// channel.
pub(super) fn packaged(
    s: &Setting,
    name: &str,
    source: &SourceUri,
    keys: Option<&str>,
    protect: bool,
) -> Result<Option<KeyFile>, ConfigError> {
    let path = match (source, keys) {
        (SourceUri::Packaged(_), Some(_)) if protect => {
            return Err(err(
                s,
                "protect with source=packaged: the packaged stream is scrambled already",
            ));
        }
        (SourceUri::Packaged(p), Some(_)) => p,
        (SourceUri::Packaged(_), None) => {
            return Err(err(
                s,
                "source=packaged needs keys=PATH (the packager's key file)",
            ))
        }
        (_, Some(k)) => return Err(err(s, format!("keys `{k}` needs source=packaged:PATH"))),
        (_, None) => return Ok(None),
    };
    let keys = keys.unwrap_or_default(); // Some: matched above
    let kf = load_keys(Path::new(keys)).map_err(|e| err(s, format!("keys `{keys}`: {e}")))?;
    if kf.channel != name {
        return Err(err(
            s,
            format!(
                "keys `{keys}` are for channel `{}`, not `{name}`",
                kf.channel
            ),
        ));
    }
    if path != Path::new("-") {
        scan(path, &kf)
            .map_err(|e| err(s, format!("source `packaged:{}`: {e}", path.display())))?;
    }
    Ok(Some(kf))
}

/// Reads and parses a key file.
pub fn load_keys(path: &Path) -> Result<KeyFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    KeyFile::parse(&text).map_err(|e| e.to_string())
}

/// Reads a packaged file through; returns its record count, or what is wrong and where.
pub fn scan(path: &Path, keys: &KeyFile) -> Result<u64, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut r = BufReader::with_capacity(64 * 1024, f);
    let mut head = [0u8; HEADER_MAX];
    let n = read_full(&mut r, &mut head).map_err(|e| e.to_string())?;
    let (h, hlen) = Header::parse(&head[..n]).map_err(|e| format!("header: {e}"))?;
    if h.channel != keys.channel {
        return Err(format!(
            "packaged for channel `{}`, not `{}`",
            h.channel, keys.channel
        ));
    }
    let back = n as i64 - hlen as i64;
    r.seek_relative(-back).map_err(|e| e.to_string())?;
    let (mut at, mut records, mut check) = (hlen as u64, 0u64, RecordCheck::default());
    loop {
        let mut rh = [0u8; RECORD_HEADER_LEN];
        let got = read_full(&mut r, &mut rh).map_err(|e| e.to_string())?;
        if got == 0 {
            return Ok(records);
        }
        let bad = |e: PackageError| format!("record {records} at byte {at}: {e}");
        let h = RecordHeader::parse(&rh[..got]).map_err(bad)?;
        check.next(&h).map_err(bad)?;
        if h.key_id != 0 {
            let covered = keys
                .index_at(u64::from(h.time_ms / 1000))
                .is_some_and(|i| keys.keys()[i].id == h.key_id);
            if !covered {
                return Err(format!(
                    "record {records} at byte {at}: key id {} is not in the key file at {} s",
                    h.key_id,
                    h.time_ms / 1000
                ));
            }
        }
        let mut payload = [0u8; tvmesh_core::chunk::CHUNK_MAX];
        let want = usize::from(h.len);
        if read_full(&mut r, &mut payload[..want]).map_err(|e| e.to_string())? < want {
            return Err(bad(PackageError::Short));
        }
        at += h.record_len() as u64;
        records += 1;
    }
}

/// Reads until `buf` is full or end of file; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "root")]
    use crate::config::{tests::run, Role};

    #[test]
    #[cfg(feature = "root")]
    fn packaged_channel_parts() {
        let dir = std::env::temp_dir().join(format!("tvmesh-cfg-pkg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let keys = dir.join("keys");
        let h = "00".repeat(32);
        std::fs::write(
            &keys,
            format!("tvmesh-keys 1\nchannel a\nrotate_s 5\nkey 1 0 5 {h}\n"),
        )
        .unwrap();
        let k = keys.display();
        let c = run(&format!(
            "root --listen 127.0.0.1:7000 --channel name=a,source=packaged:-,keys={k}"
        ))
        .unwrap();
        let Role::Root { channels, .. } = c.role else {
            panic!()
        };
        let kf = channels[0].packaged_keys.as_ref().unwrap();
        assert_eq!((kf.channel.as_str(), kf.keys().len()), ("a", 1));
        for (parts, why) in [
            ("source=packaged:-", "needs keys=PATH"),
            (&format!("source=-,keys={k}"), "needs source=packaged"),
            (
                &format!("source=packaged:-,keys={k},protect=yes"),
                "scrambled already",
            ),
            (
                "source=packaged:-,keys=/nonexistent/k",
                "keys `/nonexistent/k`",
            ),
            (
                &format!("source=packaged:/nonexistent/p,keys={k}"),
                "source `packaged:/nonexistent/p`",
            ),
        ] {
            let e = run(&format!(
                "root --listen 127.0.0.1:7000 --channel name=a,{parts}"
            ))
            .unwrap_err();
            assert!(e.to_string().contains(why), "{parts}: {e}");
            assert_eq!(e.field, "channel");
        }
        let e = run(&format!(
            "root --listen 127.0.0.1:7000 --channel name=b,source=packaged:-,keys={k}"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("for channel `a`, not `b`"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
