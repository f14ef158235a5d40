//! The one internal usage shape every convention is normalised into.

/// Token usage of one LLM call, normalised (DESIGN §3): input includes cache, output includes
/// reasoning, whatever the emitter's convention was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// All input tokens, cache reads and writes and audio included.
    pub input_total: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the cache with the default (5 minute) TTL.
    pub cache_write_5m: u64,
    /// Input tokens written to the cache with a 1 hour TTL.
    pub cache_write_1h: u64,
    /// All output tokens, reasoning and audio included.
    pub output_total: u64,
    /// Reasoning ("thinking") output tokens.
    pub reasoning: u64,
    /// Audio input tokens.
    pub audio_in: u64,
    /// Audio output tokens.
    pub audio_out: u64,
}
