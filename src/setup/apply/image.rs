//! Docker images: loaded from an archive (pinned) or pulled by digest, and
//! removed by uninstall with `docker rmi`.

use crate::setup::apply::change::{Change, Check, ResourceError, err, offline, run_err};
use crate::setup::apply::downloads::Downloads;
use crate::setup::host::system::System;
use crate::setup::record::{Manifest, ManifestError};
use crate::setup::report::{Line, Reporter, Status};
use crate::setup::sources::Artifact;

pub fn check_image(
    sys: &System,
    image: &str,
    archive: Option<&Artifact>,
) -> Result<Check, ResourceError> {
    if !sys.is_live() {
        let how = match archive {
            Some(a) => format!("load {image} from {} (docker load)", a.location),
            None => format!("pull {image}"),
        };
        return Ok(offline(sys, how));
    }
    // No Docker yet (a dry run before it is installed): the image is to
    // be loaded once it is.
    let held = sys
        .run(
            "docker",
            &["image", "inspect", "--format", "{{.Id}}", image],
        )
        .is_ok_and(|out| out.success);
    Ok(if held {
        Check::Ok
    } else {
        Check::Change {
            change: Change::Install,
            diff: None,
        }
    })
}

pub fn load_image(
    sys: &System,
    dl: &Downloads,
    image: &str,
    archive: Option<&Artifact>,
    manifest: &mut Manifest,
) -> Result<Option<String>, ResourceError> {
    if !manifest.images.iter().any(|i| i == image) {
        manifest.images.push(image.to_owned());
        manifest.save(sys).map_err(ResourceError::from)?;
    }
    let docker = |args: &[&str]| {
        let out = sys
            .run("docker", args)
            .map_err(|e| run_err(format!("docker {}", args[0]), e))?;
        if out.success {
            Ok(out)
        } else {
            Err(err(format!(
                "docker {} failed: {}",
                args.join(" "),
                out.stderr.trim()
            )))
        }
    };
    let note = match archive {
        Some(a) => {
            let f = dl.get(sys, a, manifest)?;
            docker(&["load", "-i", &f.path.display().to_string()])?;
            let held = sys
                .run(
                    "docker",
                    &["image", "inspect", "--format", "{{.Id}}", image],
                )
                .is_ok_and(|o| o.success);
            if !held {
                return Err(err(format!(
                    "{} holds no image {image}: name the NAME:TAG it was saved as (docker load -i lists it)",
                    a.location
                )));
            }
            format!("loaded from {}", a.location)
        }
        None => {
            docker(&["pull", image])?;
            "pulled".to_owned()
        }
    };
    Ok(Some(note))
}

/// Removes the Docker images setup loaded or pulled (running containers
/// keep theirs: `docker rmi` refuses an image in use, which is reported),
/// each dropped from the record once it is gone.
pub fn undo(
    sys: &System,
    m: &mut Manifest,
    dry_run: bool,
    rep: &mut Reporter,
    save: &dyn Fn(&mut Manifest) -> Result<(), ManifestError>,
) -> Result<(), ResourceError> {
    for image in m.images.clone() {
        let line = |status, detail: String| Line {
            status,
            kind: "image".into(),
            id: image.clone(),
            detail: Some(detail),
            diff: None,
        };
        if dry_run || !sys.is_live() {
            let what = if dry_run {
                "would be removed (docker rmi)"
            } else {
                "loaded by setup; remove it on the host itself (docker rmi)"
            };
            rep.line(line(Status::Skipped, what.into()));
            continue;
        }
        match sys.run("docker", &["rmi", &image]) {
            Ok(out) if out.success => {
                rep.line(line(Status::Changed, "removed (docker rmi)".into()))
            }
            Ok(out) if out.stderr.contains("No such image") => {
                rep.line(line(Status::Ok, "already gone".into()))
            }
            Ok(out) => {
                let e = err(format!(
                    "docker rmi {image} failed: {} (an image a container still uses stays until the container is removed)",
                    out.stderr.trim()
                ));
                rep.line(line(Status::Failed, crate::error_chain(&e)));
                return Err(e);
            }
            Err(e) => {
                let e = run_err(format!("docker rmi {image}"), e);
                rep.line(line(Status::Failed, crate::error_chain(&e)));
                return Err(e);
            }
        }
        m.images.retain(|i| *i != image);
        save(m)?;
    }
    Ok(())
}

/// Loads or pulls the image; one trusted on first use gets its digest
/// pinned in setup.toml.
pub fn apply(
    sys: &System,
    image: &str,
    archive: Option<&Artifact>,
    first_use: Option<&str>,
    manifest: &mut Manifest,
    tools: &crate::setup::apply::tools::Tools,
    rep: &mut Reporter,
) -> Result<Option<String>, ResourceError> {
    let note = load_image(sys, tools.dl, image, archive, manifest)?;
    match (first_use, tools.pins) {
        (Some(name), Some(pins)) => {
            crate::setup::apply::trust::pin_image(sys, name, image, pins, manifest, rep).map(Some)
        }
        _ => Ok(note),
    }
}
