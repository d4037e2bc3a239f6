//! `lbctl`: the one binary of the LVS/IPVS load-balancer control plane.

fn main() -> anyhow::Result<()> {
    Ok(())
}
