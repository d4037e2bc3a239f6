//! Lab probe for the IPVS netlink client against a real kernel (run as root in the lab VM).
//!
//! Connects, prints GET_INFO, adds TCP 10.0.0.100:80 (rr) with one masq destination
//! 10.0.1.11:80 weight 1, dumps the table as JSON, edits the weight to 5, verifies every write by
//! reading it back, deletes everything it added and checks it is gone. Exits non-zero on any
//! error or mismatch. It refuses to touch the service if it already exists (EEXIST), so it never
//! deletes something it did not create. On a host without IPVS it fails with FamilyNotFound.

use std::error::Error;
use std::process::ExitCode;

use lb_config::{Protocol, RealServerKey, ServiceKey};
use lb_ipvs_sync::netlink::IpvsClient;
use lb_ipvs_sync::{DestinationSpec, IpvsKernel, IpvsTable, KernelForward, ServiceId, ServiceSpec};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("ipvs_probe: OK");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("ipvs_probe: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut client = IpvsClient::connect()?;
    println!("{}", client.info()?);
    println!("timeouts: {:?}", client.get_timeouts()?);

    let id = ServiceId::Inet(ServiceKey {
        vip: "10.0.0.100".parse()?,
        protocol: Protocol::Tcp,
        port: 80,
    });
    let service = ServiceSpec {
        id,
        scheduler: "rr".into(),
        flags: 0,
        timeout: 0,
        netmask_prefix: 32,
        pe_name: None,
    };
    let mut dest = DestinationSpec {
        key: RealServerKey {
            addr: "10.0.1.11".parse()?,
            port: 80,
        },
        forward: KernelForward::Masq,
        weight: 1,
        upper_threshold: 0,
        lower_threshold: 0,
        tunnel: None,
    };

    client.add_service(&service)?; // EEXIST here: not ours, touch nothing.
    let exercised = exercise(&mut client, &service, &mut dest);
    // Clean up whatever happened above: the destination, then the service.
    let dest_removed = client.delete_destination(&id, &dest.key);
    let service_removed = client.delete_service(&id);
    exercised?;
    dest_removed?;
    service_removed?;
    if client.get_service(&id)?.is_some() {
        return Err("service still present after DEL_SERVICE".into());
    }
    println!("requests sent: {:?}", client.op_count());
    Ok(())
}

fn exercise(
    client: &mut IpvsClient,
    service: &ServiceSpec,
    dest: &mut DestinationSpec,
) -> Result<()> {
    client.verify_service(service)?;
    client.add_destination(&service.id, dest)?;
    client.verify_destination(&service.id, dest)?;

    let table = client.dump()?;
    println!("{}", table_json(&table)?);
    let observed = table
        .services
        .get(&service.id)
        .ok_or("added service missing from the dump")?;
    let observed_dest = observed
        .destinations
        .get(&dest.key)
        .ok_or("added destination missing from the dump")?;
    if observed_dest.spec.weight != 1 {
        return Err(format!("dumped weight {} != 1", observed_dest.spec.weight).into());
    }

    dest.weight = 5;
    client.edit_destination(&service.id, dest)?;
    client.verify_destination(&service.id, dest)?;
    println!("weight edited to 5 and verified");
    Ok(())
}

/// The table as JSON (maps keyed by structs become lists, which JSON can carry).
fn table_json(table: &IpvsTable) -> Result<String> {
    let services: Vec<_> = table
        .services
        .values()
        .map(|s| {
            serde_json::json!({
                "service": s.spec,
                "stats": s.stats,
                "destinations": s.destinations.values().collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&services)?)
}
