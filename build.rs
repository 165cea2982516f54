//! Records the compiler's version for `holdfast -V` ("built by rustc ...",
//! as nginx prints "built by gcc ...").
fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "rustc".to_string());
    println!("cargo:rustc-env=HOLDFAST_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
