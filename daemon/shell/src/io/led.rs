//! [`Led`]: box status on a front-panel LED through `/sys/class/leds/NAME/{trigger,brightness}`.
//!
//! States: [`LedState::Off`], [`LedState::On`] (playing), [`LedState::Blink`] (zapping,
//! buffering: the kernel's `timer` trigger blinks it, so the daemon writes nothing per blink).
//!
//! Invariants: sysfs is written only when the state changes (a few small writes per zap);
//! failures (no such LED, no `timer` trigger — then `Blink` falls back to on) are logged once
//! and never stop the daemon; the base directory is configurable so tests use a temp dir.

use std::path::{Path, PathBuf};

/// What the LED shows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LedState {
    /// Dark.
    Off,
    /// Lit.
    On,
    /// Blinking (kernel `timer` trigger).
    Blink,
}

/// One LED. See the module documentation.
pub struct Led {
    dir: PathBuf,
    state: Option<LedState>,
    warned: bool,
}

impl Led {
    /// The LED `name` under `/sys/class/leds`.
    pub fn new(name: &str) -> Led {
        Led::in_dir(Path::new("/sys/class/leds"), name)
    }

    /// The LED `name` under `base` (tests).
    pub fn in_dir(base: &Path, name: &str) -> Led {
        Led {
            dir: base.join(name),
            state: None,
            warned: false,
        }
    }

    /// The state last set.
    pub fn state(&self) -> Option<LedState> {
        self.state
    }

    /// Shows `state` (no writes if it is already shown).
    pub fn set(&mut self, state: LedState) {
        if self.state == Some(state) {
            return;
        }
        self.state = Some(state);
        let res = match state {
            LedState::Off => self
                .write("trigger", "none")
                .and(self.write("brightness", "0")),
            LedState::On => self.write("trigger", "none").and_then(|()| self.on()),
            LedState::Blink => self.write("trigger", "timer").or_else(|e| {
                log::debug!(
                    "led {}: no timer trigger ({e}); lit instead",
                    self.dir.display()
                );
                self.on()
            }),
        };
        match res {
            Ok(()) => self.warned = false,
            Err(e) if !self.warned => {
                log::warn!("led {}: {e}", self.dir.display());
                self.warned = true;
            }
            Err(_) => {}
        }
    }

    /// Full brightness (`max_brightness`, 1 if unreadable).
    fn on(&self) -> std::io::Result<()> {
        let max = std::fs::read_to_string(self.dir.join("max_brightness"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(1);
        self.write("brightness", &max.to_string())
    }

    fn write(&self, file: &str, value: &str) -> std::io::Result<()> {
        std::fs::write(self.dir.join(file), value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path, f: &str) -> String {
        std::fs::read_to_string(dir.join(f)).unwrap()
    }

    #[test]
    fn states_write_trigger_and_brightness() {
        let base = std::env::temp_dir().join(format!("tvmesh-leds-{}", std::process::id()));
        let dir = base.join("power");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("max_brightness"), "255\n").unwrap();
        let mut led = Led::in_dir(&base, "power");
        led.set(LedState::On);
        assert_eq!(
            (read(&dir, "trigger"), read(&dir, "brightness")),
            ("none".into(), "255".into())
        );
        led.set(LedState::Blink);
        assert_eq!(read(&dir, "trigger"), "timer");
        led.set(LedState::Off);
        assert_eq!(
            (read(&dir, "trigger"), read(&dir, "brightness")),
            ("none".into(), "0".into())
        );
        // Unchanged state: nothing written.
        std::fs::remove_file(dir.join("brightness")).unwrap();
        led.set(LedState::Off);
        assert!(!dir.join("brightness").exists());
        assert_eq!(led.state(), Some(LedState::Off));
        // A missing LED is not fatal.
        let mut gone = Led::in_dir(&base, "nothing");
        gone.set(LedState::On);
        assert_eq!(gone.state(), Some(LedState::On));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
