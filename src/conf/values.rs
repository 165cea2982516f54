//! placeholder
use super::ConfError;
/// Parses an nginx size (`1k`, `8m`).
pub fn parse_size(_s: &str) -> Result<usize, ConfError> {
    unimplemented!()
}
/// Parses an nginx time into ms (`75s`, `1h30m`, `500ms`; bare number = seconds).
pub fn parse_time_ms(_s: &str) -> Result<u64, ConfError> {
    unimplemented!()
}
