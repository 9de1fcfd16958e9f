//! ContainerSpec → the Engine API's create body. Pure, so the mapping onto
//! Docker's field names is tested without a daemon.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, PortBinding, PortMap};

use crate::exec::spec::ContainerSpec;

pub fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let mut port_bindings: PortMap = HashMap::new();
    for b in &spec.port_bindings {
        port_bindings
            .entry(format!("{}/{}", b.container_port, b.protocol.as_str()))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: None,
                host_port: Some(b.host_port.to_string()),
            });
    }
    let mut exposed: Vec<String> = port_bindings.keys().cloned().collect();
    exposed.sort();
    let o = &spec.options;
    let log_config = o.log_driver.as_ref().map(|driver| HostConfigLogConfig {
        typ: Some(driver.clone()),
        config: (!o.log_opts.is_empty()).then(|| o.log_opts.iter().cloned().collect()),
    });
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
        entrypoint: o.entrypoint.clone(),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        hostname: o.hostname.clone(),
        user: o.user.clone(),
        working_dir: o.workdir.clone(),
        host_config: Some(HostConfig {
            binds: Some(spec.binds.iter().map(|b| b.to_docker()).collect()),
            network_mode: Some(spec.network.mode().to_string()),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            privileged: Some(spec.privileged),
            cpu_shares: spec.cpu_shares,
            memory: spec.memory_bytes,
            memory_swap: o.memory_swap,
            shm_size: o.shm_size,
            cap_add: non_empty(&o.cap_add),
            cap_drop: non_empty(&o.cap_drop),
            extra_hosts: non_empty(&o.extra_hosts),
            dns: non_empty(&o.dns),
            init: o.init,
            readonly_rootfs: o.read_only,
            log_config,
            ..Default::default()
        }),
        ..Default::default()
    }
}
