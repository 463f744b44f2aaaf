//! Where presets read environment variables from.

/// A source of environment variables. The process environment is [`ProcessEnv`]; tests pass
/// a slice of pairs so that no global state is touched.
pub trait EnvSource {
    /// The value of `name`, if set and not blank.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> EnvSource for [(K, V)] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref().to_owned())
            .filter(|v| !v.trim().is_empty())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> EnvSource for [(K, V); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.as_slice().var(name)
    }
}
