//! Workflows are validated when saved and stored idempotently.

use voice_gateway::workflow::{self, Definition, SaveError};

use crate::helpers::TestApp;

#[tokio::test]
async fn the_built_in_workflow_is_stored_once_and_invalid_ones_are_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut connection = app.db().await?;
    // Installed at start-up; installing again finds the same row.
    let first = workflow::install_built_ins(&mut connection).await?;
    let again = workflow::install_built_ins(&mut connection).await?;
    assert_eq!(first, again);
    let tenant = uuid::Uuid::now_v7();
    assert_eq!(
        workflow::current_for(&mut connection, tenant, workflow::REMINDER_WORKFLOW).await?,
        Some(first)
    );

    // A tenant's own version wins for that tenant only.
    let mut own = workflow::built_in_reminder()?;
    own.start = "menu".to_owned();
    own.nodes.remove("intro");
    own.nodes.insert(
        "repeat".to_owned(),
        workflow::Node::Redirect {
            next: "menu".to_owned(),
        },
    );
    // "repeat" → "menu" is fine (the menu is a gather); "kept" → "menu" too.
    let id = workflow::save(
        &mut connection,
        Some(tenant),
        workflow::REMINDER_WORKFLOW,
        1,
        &own,
    )
    .await?;
    assert_eq!(
        workflow::current_for(&mut connection, tenant, workflow::REMINDER_WORKFLOW).await?,
        Some(id)
    );

    let broken = Definition::from_json(
        r#"{"start":"menu","nodes":{"menu":{"type":"gather","prompts":["menu"],
            "digits":{"4":"nowhere"},"retries":3,"invalid":"invalid","no_input":"menu"}}}"#,
    )?;
    let error = workflow::save(&mut connection, Some(tenant), "broken", 1, &broken)
        .await
        .err();
    let Some(SaveError::Invalid(errors)) = error else {
        anyhow::bail!("saved an invalid workflow: {error:?}");
    };
    assert_eq!(errors[0].path, "nodes.menu.digits.4");
    app.stop().await
}
