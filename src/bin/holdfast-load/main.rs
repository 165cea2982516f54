//! holdfast-load: a single-threaded, mio-based HTTP/1.x load generator.

fn main() {
    eprintln!("holdfast-load: not built yet");
    std::process::exit(2);
}
