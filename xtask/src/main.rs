//! `cargo xtask`: parcelguard's automation (benchmarks, data regeneration).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("no tasks yet")
}
