//! placeholder
use super::{ConfError, Config};
use std::path::Path;
pub(super) fn load(_file: &Path, _prefix: &Path) -> Result<Config, ConfError> {
    unimplemented!()
}
pub(super) fn load_str(_text: &str, _file: &Path, _prefix: &Path) -> Result<Config, ConfError> {
    unimplemented!()
}
