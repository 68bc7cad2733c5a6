//! DRM helpers shared by the DRM end-to-end tests: a box with a device identity playing channel
//! `demo` into a file sink, and its status page's DRM block.

use super::*;

/// Starts a box `name` with device `id` / `secret` on channel `demo` of the root at `data`,
/// writing to `dir/NAME.ts`, status on `http`.
pub fn start_box(dir: &Path, name: &str, data: u16, http: u16, id: &str, secret: &str) -> Daemon {
    start_file_box(
        dir,
        name,
        data,
        http,
        &["--device-id", id, "--device-secret", secret],
    )
}

/// The DRM block of a box's status: (state, key id).
pub fn drm(v: &serde_json::Value) -> (String, u64) {
    let d = &v["channels"][0]["drm"];
    (
        d["state"].as_str().unwrap_or("").to_string(),
        d["key_id"].as_u64().unwrap_or(0),
    )
}

/// Waits (bounded, 15 s) until the box's DRM state is `want`.
pub fn wait_drm(http: u16, want: &str) -> serde_json::Value {
    wait_for(Duration::from_secs(15), want, || {
        status(http).filter(|v| drm(v).0 == want)
    })
}

/// Checks an entitled box's recording of the whole sample: ffprobe decodes it with no errors,
/// from a key frame, ≥ 95% of the sample's frames, and its status counted every byte written.
pub fn assert_plays_sample(out: &Path, v: &serde_json::Value) {
    let (keys, errors) = probe_frames(out.to_str().unwrap());
    let sent = sample_frames();
    println!("decoded {} of {sent} frames", keys.len());
    assert!(
        errors.trim().is_empty(),
        "ffprobe reported errors:\n{errors}"
    );
    assert!(keys.first() == Some(&true), "starts at a key frame");
    assert!(
        keys.len() * 100 >= sent * 95,
        "decoded {} of {sent}",
        keys.len()
    );
    assert_eq!(chan(v, "bytes_out"), std::fs::metadata(out).unwrap().len());
}
