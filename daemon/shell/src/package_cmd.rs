//! `tvmeshd package`: the ahead-of-time packager's command (issue 6).
//!
//! ```text
//! tvmeshd package --channel NAME --keys FILE [--rotate-s N] [--in PATH|-] [--out PATH|-]
//!                 [--first-seq N]
//! ```
//!
//! Reads an MPEG-TS file or stdin (`--in`, default `-`), cuts and scrambles it as the root's
//! ingest would (`tvmesh_core::drm::packager`) and writes the packaged stream
//! (`tvmesh_core::drm::package`) to `--out` (default `-`, stdout). The key file `--keys` is
//! reused if it exists (its channel must be `--channel`; its keys are kept, so packaging again
//! gives the same bytes) and extended with a new random key per `--rotate-s` period (default 60,
//! or the file's) as the stream needs them. `--first-seq` numbers the chunks (default: the wall
//! clock in µs, as a root numbers its channels).
//!
//! A subcommand rather than a separate binary under `tools/`: it reuses the daemon's config
//! errors, `getrandom` and key-file code, and adds ~10 KB to the one binary an operator already
//! installs on the root server.
//!
//! Invariants: nothing is left half-written — an `--out` file and the key file are written to a
//! temporary file in the same directory and renamed into place only when everything succeeded
//! (key file first; mode 0600); on any error both temporaries are removed. An `--out` that is
//! an existing FIFO or device is written in place (never renamed over); a `--keys` that is not a
//! regular file is refused. Usage errors and a
//! bad key file exit 2 naming the flag or the line; I/O errors exit 1. Never panics on input.

use crate::config::integrity::DEFAULT_ROTATE_S;
use crate::config::packaged::load_keys;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tvmesh_core::drm::keyfile::KeyFile;
use tvmesh_core::drm::packager::Packager;

/// Input read size.
const READ: usize = 64 * 1024;

/// Runs `tvmeshd package ...` if `args` start with `package`.
pub fn dispatch(args: &[String]) -> Option<ExitCode> {
    if args.first().map(String::as_str) != Some("package") {
        return None;
    }
    Some(match run(&args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Usage(m)) => {
            eprintln!("tvmeshd package: configuration error: {m}");
            ExitCode::from(2)
        }
        Err(Error::Io(m)) => {
            eprintln!("tvmeshd package: {m}");
            ExitCode::from(1)
        }
    })
}

enum Error {
    Usage(String),
    Io(String),
}

fn io_err(what: &Path, e: io::Error) -> Error {
    Error::Io(format!("{}: {e}", what.display()))
}

struct Args {
    channel: Option<String>,
    keys: PathBuf,
    rotate_s: Option<u32>,
    input: PathBuf,
    output: PathBuf,
    first_seq: Option<u64>,
}

fn parse(args: &[String]) -> Result<Args, Error> {
    let mut a = Args {
        channel: None,
        keys: PathBuf::new(),
        rotate_s: None,
        input: "-".into(),
        output: "-".into(),
        first_seq: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let (k, inline) = match flag.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (flag.as_str(), None),
        };
        let v = inline
            .or_else(|| it.next().cloned())
            .ok_or_else(|| Error::Usage(format!("field `{k}`: missing value")))?;
        let bad = |why: &str| Error::Usage(format!("field `{k}`: value `{v}`: {why}"));
        match k {
            "--channel" => {
                if v.is_empty() || v.len() > 64 || v.contains(char::is_whitespace) {
                    return Err(bad("expected 1-64 bytes without spaces"));
                }
                a.channel = Some(v.clone());
            }
            "--keys" => a.keys = v.clone().into(),
            "--rotate-s" => {
                let r = v.parse::<u32>().ok().filter(|r| (1..=86_400).contains(r));
                a.rotate_s = Some(r.ok_or_else(|| bad("expected 1-86400 seconds"))?);
            }
            "--in" => a.input = v.clone().into(),
            "--out" => a.output = v.clone().into(),
            "--first-seq" => {
                a.first_seq = Some(v.parse().map_err(|_| bad("expected a whole number"))?)
            }
            _ => return Err(bad(
                "unknown flag; expected --channel, --keys, --rotate-s, --in, --out, --first-seq",
            )),
        }
    }
    if a.keys.as_os_str().is_empty() {
        return Err(Error::Usage(
            "field `--keys`: missing (the key file to read or create)".into(),
        ));
    }
    Ok(a)
}

/// The key file: read if it exists (and checked against the flags), else new.
fn key_file(a: &Args) -> Result<KeyFile, Error> {
    let shown = a.keys.display();
    if std::fs::metadata(&a.keys).is_ok_and(|m| !m.is_file()) {
        return Err(Error::Usage(format!(
            "field `--keys`: value `{shown}`: not a regular file"
        )));
    }
    if a.keys.exists() {
        let kf = load_keys(&a.keys)
            .map_err(|e| Error::Usage(format!("field `--keys`: value `{shown}`: {e}")))?;
        if let Some(c) = a.channel.as_ref().filter(|c| **c != kf.channel) {
            return Err(Error::Usage(format!(
                "field `--channel`: value `{c}`: the key file `{shown}` is for channel `{}`",
                kf.channel
            )));
        }
        if let Some(r) = a.rotate_s.filter(|&r| r != kf.rotate_s) {
            return Err(Error::Usage(format!(
                "field `--rotate-s`: value `{r}`: the key file `{shown}` rotates every {} s",
                kf.rotate_s
            )));
        }
        return Ok(kf);
    }
    let channel = a.channel.as_deref().ok_or_else(|| {
        Error::Usage(format!(
            "field `--channel`: missing (needed to create the key file `{shown}`)"
        ))
    })?;
    KeyFile::new(channel, a.rotate_s.unwrap_or(DEFAULT_ROTATE_S))
        .map_err(|e| Error::Usage(format!("field `--channel`: value `{channel}`: {e}")))
}

/// A temporary file next to `path`, created with `mode`.
fn temp_for(path: &Path, mode: u32) -> Result<(PathBuf, File), Error> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| io_err(&tmp, e))?;
    Ok((tmp, f))
}

/// Removes the temporary files when dropped, unless disarmed.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn run(args: &[String]) -> Result<(), Error> {
    let a = parse(args)?;
    let keys = key_file(&a)?;
    let mut seed = [0u8; 32];
    if rustix::rand::getrandom(&mut seed, rustix::rand::GetRandomFlags::empty()) != Ok(32) {
        return Err(Error::Io("getrandom failed: no key material".into()));
    }
    let first_seq = a.first_seq.unwrap_or_else(crate::clock::unix_micros);
    let mut cleanup = Cleanup(Vec::new());
    let mut input: Box<dyn Read> = if a.input == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(&a.input).map_err(|e| io_err(&a.input, e))?)
    };
    let to_stdout = a.output == Path::new("-");
    // An existing FIFO or device (e.g. /dev/null) is written in place: never renamed over.
    let special = std::fs::metadata(&a.output).is_ok_and(|m| !m.is_file());
    let (out_tmp, mut out): (Option<PathBuf>, Box<dyn Write>) = if to_stdout {
        (None, Box::new(io::BufWriter::new(io::stdout().lock())))
    } else if special {
        let f = OpenOptions::new()
            .write(true)
            .open(&a.output)
            .map_err(|e| io_err(&a.output, e))?;
        (None, Box::new(io::BufWriter::new(f)))
    } else {
        let (tmp, f) = temp_for(&a.output, 0o644)?;
        cleanup.0.push(tmp.clone());
        (Some(tmp), Box::new(io::BufWriter::new(f)))
    };
    let started = std::time::Instant::now();
    let mut p = Packager::new(keys, seed, first_seq);
    let mut buf = vec![0u8; READ];
    let shown = a.keys.display();
    let key_err = |e| Error::Usage(format!("field `--keys`: value `{shown}`: {e}"));
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(&a.input, e)),
        };
        p.push(&buf[..n]).map_err(key_err)?;
        out.write_all(p.take_output())
            .map_err(|e| io_err(&a.output, e))?;
        p.take_output().clear();
    }
    p.finish().map_err(key_err)?;
    out.write_all(p.take_output())
        .and_then(|()| out.flush())
        .map_err(|e| io_err(&a.output, e))?;
    drop(out);
    // Key file first (0600, renamed into place), then the stream.
    let (key_tmp, mut kf) = temp_for(&a.keys, 0o600)?;
    cleanup.0.push(key_tmp.clone());
    kf.write_all(p.keys().emit().as_bytes())
        .and_then(|()| kf.sync_all())
        .map_err(|e| io_err(&key_tmp, e))?;
    std::fs::rename(&key_tmp, &a.keys).map_err(|e| io_err(&a.keys, e))?;
    if let Some(tmp) = &out_tmp {
        std::fs::rename(tmp, &a.output).map_err(|e| io_err(&a.output, e))?;
    }
    cleanup.0.clear();
    let s = p.stats();
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    eprintln!(
        "tvmeshd package: channel {}: {} records ({} scrambled, {} already scrambled), {:.1} s of \
         stream, {} keys; {} bytes in, {} bytes out, {:.1} MB/s",
        p.keys().channel,
        s.records,
        s.scrambled,
        s.already_scrambled,
        f64::from(s.last_ms) / 1000.0,
        p.keys().keys().len(),
        s.bytes_in,
        s.bytes_out,
        s.bytes_in as f64 / secs / 1e6
    );
    Ok(())
}
