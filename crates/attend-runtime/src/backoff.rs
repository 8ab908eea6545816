//! How long to wait before trying a carrier again: exponential, capped, with equal jitter so
//! that requests refused together do not come back together.

use std::time::Duration;

/// Returns the pause before try `tries + 1`: `base · 2^(tries-1)` capped at `max`, of which a
/// random half is kept (equal jitter: between half and all of it).
pub fn jittered(base: Duration, tries: u32, max: Duration) -> Duration {
    let exponent = tries.saturating_sub(1).min(20);
    let full = base.saturating_mul(1_u32 << exponent).min(max);
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(1000);
        let max = Duration::from_secs(600);
        for tries in 1..=4_u32 {
            let full = base * 2_u32.pow(tries - 1);
            let delay = jittered(base, tries, max);
            assert!(delay >= full / 2 && delay <= full, "try {tries}: {delay:?}");
        }
        assert!(jittered(base, 40, max) <= max);
        assert!(jittered(Duration::from_secs(3600), 1, max) <= max);
    }
}
