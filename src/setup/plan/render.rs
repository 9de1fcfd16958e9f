//! The built-in templates (templates/, units/), rendered with tera.

use std::sync::LazyLock;

use tera::{Context, Tera};

static TEMPLATES: LazyLock<Tera> = LazyLock::new(|| {
    let mut t = Tera::default();
    t.add_raw_templates([
        (
            "header.tera",
            include_str!("../../../templates/header.tera"),
        ),
        ("master.env", include_str!("../../../templates/master.env")),
        ("agent.env", include_str!("../../../templates/agent.env")),
        (
            "marathon.env",
            include_str!("../../../templates/marathon.env"),
        ),
        ("zoo.cfg", include_str!("../../../templates/zoo.cfg")),
        (
            "mesos-master.service",
            include_str!("../../../units/mesos-master.service"),
        ),
        (
            "mesos-agent.service",
            include_str!("../../../units/mesos-agent.service"),
        ),
        (
            "marathon.service",
            include_str!("../../../units/marathon.service"),
        ),
        (
            "mesos-docker-reap.service",
            include_str!("../../../units/mesos-docker-reap.service"),
        ),
        (
            "mesos-docker-reap.timer",
            include_str!("../../../units/mesos-docker-reap.timer"),
        ),
        (
            "upstart/job.conf",
            include_str!("../../../units/upstart/job.conf"),
        ),
        (
            "upstart/mesos-docker-reap.cron",
            include_str!("../../../units/upstart/mesos-docker-reap.cron"),
        ),
    ])
    .expect("the built-in templates parse");
    t.autoescape_on(vec![]);
    t
});

/// A built-in template failed to render: a bug in this build, not bad input.
#[derive(Debug, thiserror::Error)]
#[error("rendering the built-in template {name}")]
pub struct RenderError {
    name: String,
    #[source]
    source: tera::Error,
}

pub fn render(name: &str, ctx: &Context) -> Result<String, RenderError> {
    TEMPLATES.render(name, ctx).map_err(|source| RenderError {
        name: name.to_owned(),
        source,
    })
}
