//! ContainerSpec → the Engine API's create body. Pure, so the mapping onto
//! Docker's field names is tested without a daemon.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, HostConfig, HostConfigLogConfig, Mount, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig, PortBinding, PortMap, ResourcesUlimits,
};

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
            memory_reservation: spec.memory_reservation,
            nano_cpus: spec.nano_cpus,
            memory_swap: o.memory_swap,
            shm_size: o.shm_size,
            cap_add: non_empty(&o.cap_add),
            cap_drop: non_empty(&o.cap_drop),
            extra_hosts: non_empty(&o.extra_hosts),
            dns: non_empty(&o.dns),
            init: o.init,
            readonly_rootfs: o.read_only,
            log_config,
            mounts: (!spec.volumes.is_empty()).then(|| {
                spec.volumes
                    .iter()
                    .map(|v| Mount {
                        typ: Some(MountType::VOLUME),
                        source: Some(v.name.clone()),
                        target: Some(v.container.clone()),
                        read_only: Some(v.read_only),
                        volume_options: v.driver.as_ref().map(|driver| MountVolumeOptions {
                            driver_config: Some(MountVolumeOptionsDriverConfig {
                                name: Some(driver.clone()),
                                options: Some(v.driver_options.clone().into_iter().collect()),
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect()
            }),
            devices: (!o.devices.is_empty()).then(|| {
                o.devices
                    .iter()
                    .map(|d| DeviceMapping {
                        path_on_host: Some(d.host.clone()),
                        path_in_container: Some(d.container.clone()),
                        cgroup_permissions: Some(d.permissions.clone()),
                    })
                    .collect()
            }),
            ulimits: (!o.ulimits.is_empty()).then(|| {
                o.ulimits
                    .iter()
                    .map(|u| ResourcesUlimits {
                        name: Some(u.name.clone()),
                        soft: Some(u.soft),
                        hard: Some(u.hard),
                    })
                    .collect()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::exec::spec::{Bind, Network, Options, PortBinding, Protocol};

    #[test]
    fn spec_fields_land_in_the_engine_api_names() {
        let spec = ContainerSpec {
            name: "mdx.t".into(),
            image: "redis:latest".into(),
            command: vec![],
            env: vec![("PORT0".into(), "31000".into())],
            labels: BTreeMap::from([("k".into(), "v".into())]),
            network: Network::Bridge,
            port_bindings: vec![
                PortBinding {
                    host_port: 31000,
                    container_port: 53,
                    protocol: Protocol::Udp,
                },
                PortBinding {
                    host_port: 31000,
                    container_port: 53,
                    protocol: Protocol::Tcp,
                },
            ],
            spare_host_ports: vec![],
            privileged: false,
            force_pull: false,
            cpu_shares: Some(512),
            nano_cpus: None,
            memory_bytes: Some(64 << 20),
            memory_reservation: None,
            binds: vec![Bind {
                host: "/sb".into(),
                container: "/mnt/mesos/sandbox".into(),
                read_only: false,
            }],
            volumes: vec![],
            options: Options {
                log_driver: Some("json-file".into()),
                log_opts: vec![("max-size".into(), "10m".into())],
                ..Default::default()
            },
        };
        let body = create_body(&spec);
        assert_eq!(body.cmd, None, "no command: the image's CMD");
        assert_eq!(body.env, Some(vec!["PORT0=31000".to_string()]));
        assert_eq!(
            body.exposed_ports,
            Some(vec!["53/tcp".to_string(), "53/udp".to_string()])
        );
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("bridge"));
        assert_eq!(host.cpu_shares, Some(512));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(
            host.binds,
            Some(vec!["/sb:/mnt/mesos/sandbox:rw".to_string()])
        );
        let ports = host.port_bindings.unwrap();
        assert_eq!(
            ports["53/udp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("31000")
        );
        let log = host.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        assert_eq!(log.config.unwrap()["max-size"], "10m");
    }
}
